"""`serve_http`: one thread, one `selectors` loop, many sockets, HTTP/1.0 responses.

The loop never waits on one socket: a browser's silent speculative connection
or a client sending a byte at a time costs nothing while other requests are
served.  Only the handler is serialised, so application code may keep one
SQLite connection and use it from every request.

On the hot path (loopback, small request) a connection is accepted, read,
handled, answered and closed without touching the selector; sockets are
registered only when they would block.
"""

from __future__ import annotations

import errno
import gc
import heapq
import itertools
import logging
import os
import selectors
import shutil
import socket
import sys
import tempfile
import threading
import time
from typing import IO, Any, Callable, Iterable

from . import __version__
from .http import END, NEED_DATA, HTTPError, ProtocolError, RequestHead, RequestParser, redact_target, status_line
from .iolist import to_chunks
from .multipart import SPOOL_SIZE
from .request import Request, is_local_client
from .response import (FileBody, Handler, Pause, Response, Stream, http_date, internal_error, run_handler,
                       wire_fields)

__all__ = ["Server", "serve_http"]

logger = logging.getLogger("kali")

_READ, _WRITE, _PAUSE, _LINGER, _CLOSED, _HANDSHAKE = range(6)
_EV_READ = selectors.EVENT_READ
_EV_WRITE = selectors.EVENT_WRITE
_RECV_SIZE = 65536
_BIG_RECV = 262144
_IOV_MAX = 1024
_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")
_HAS_SENDFILE = hasattr(os, "sendfile")
_SERVER_HEADER = f"Server: kali/{__version__}\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_ERROR_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
                  ("X-Frame-Options", "DENY"))
_ACCEPT_PAUSE = 0.1      # seconds without accepting after running out of file descriptors
_WAKE = object()
_LISTENER = object()
_DISCONNECTED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _Conn:
    """The state of one client connection (one request, one response)."""

    __slots__ = (
        "sock", "client", "state", "mask", "parser", "head", "body", "got_data",
        "deadline", "queued", "out", "out_i", "out_off", "file", "file_offset", "file_left",
        "stream", "request", "response", "code", "sent", "started", "streamed_items", "linger",
        "file_fd", "deadline_kind",
    )

    def __init__(self, sock: socket.socket, client: Any) -> None:
        self.sock = sock
        self.client = client
        self.state = _READ
        self.mask = 0
        self.parser: RequestParser | None = None
        self.head: RequestHead | None = None
        self.body: bytearray | IO[bytes] | None = None
        self.got_data = False
        self.deadline: float | None = None
        self.queued: float | None = None
        self.out: list[bytes] = []
        self.out_i = 0
        self.out_off = 0
        self.file: IO[bytes] | None = None
        self.file_offset = 0
        self.file_left = 0
        self.stream: Stream | None = None
        self.request: Request | None = None
        self.response: Response | None = None
        self.code = 0
        self.sent = 0
        self.started = 0.0
        self.streamed_items = 0
        #: After the response, half-close and drain instead of closing (the request was not read).
        self.linger = False
        self.file_fd = -1
        self.deadline_kind = 0


class _DateCache:
    """The Date and Server header lines, formatted at most once a second."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def lines(self) -> str:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.text = f"Date: {http_date(now)}\r\n{_SERVER_HEADER}"
        return self.text


class Server:
    """A bound listening socket plus the loop that serves `handler` on it."""

    def __init__(self, handler: Handler, *, port: int = 8080, address: str = "127.0.0.1",
                 timeout: float = 1.0, request_timeout: float = 10.0, write_timeout: float = 60.0,
                 max_body_size: int | None = 4 << 30, debug: bool = True,
                 shutdown_grace: float = 5.0, ssl_context: Any = None) -> None:
        if timeout <= 0 or request_timeout <= 0:
            raise ValueError("timeouts must be positive numbers of seconds")
        self.handler = handler
        #: Seconds a new connection may stay silent before it is closed without a reply.
        self.timeout = timeout
        #: Seconds a request head may take, and the longest pause inside a body, before a 408.
        self.request_timeout = request_timeout
        self.write_timeout = write_timeout
        self.max_body_size = max_body_size
        #: Show tracebacks on 500 pages (the app's author is its user).
        self.debug = debug
        self.shutdown_grace = shutdown_grace
        #: An `ssl.SSLContext` to serve HTTPS with (handshakes are non-blocking too).
        self.ssl_context = ssl_context
        self.scheme = "https" if ssl_context is not None else "http"
        self._would_block: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError)
        if ssl_context is not None:
            import ssl
            self._would_block += (ssl.SSLWantReadError, ssl.SSLWantWriteError)
        self._listener = self._bind(address, port)
        self._family = int(self._listener.family)
        bound = self._listener.getsockname()
        self.address: tuple[str, int] = (bound[0], bound[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, _EV_READ, _LISTENER)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, _EV_READ, _WAKE)
        self._conns: set[_Conn] = set()
        self._heap: list[tuple[float, int, _Conn]] = []
        self._seq = itertools.count()
        self._dates = _DateCache()
        self._log_pending: list[tuple[Any, ...]] = []
        self._accept_resume: float | None = None
        self._stopping = False
        self._stop_by: float | None = None
        self._closed = False

    @staticmethod
    def _bind(address: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if os.name == "posix":
                # Lets a restarted app bind at once although old connections linger in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot listen on {address}:{port}: {exc.strerror}") from None
        return sock

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return self.address[1]

    @property
    def url(self) -> str:
        """The base URL a local browser should open."""
        host = self.address[0]
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}/"

    def stop(self) -> None:
        """Ask the loop to finish responses in flight and return (safe from any thread or signal)."""
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # -- the loop -------------------------------------------------------------------

    def run(self) -> None:
        """Serve until `stop()` is called or a response asks to shut down."""
        select = self._selector.select
        heap = self._heap
        # Everything loaded so far (the app, its templates, its routes) lives as long as the
        # server: keep the cyclic garbage collector from walking it again and again.
        gc.freeze()
        try:
            while True:
                if self._stopping and self._drain_for_stop():
                    break
                wait: float | None
                if heap:
                    wait = max(0.0, heap[0][0] - time.monotonic())
                    if self._stop_by is not None:
                        wait = min(wait, max(0.0, self._stop_by - time.monotonic()))
                else:
                    wait = None if self._stop_by is None else max(0.0, self._stop_by - time.monotonic())
                if self._accept_resume is not None:
                    until = max(0.0, self._accept_resume - time.monotonic())
                    wait = until if wait is None else min(wait, until)
                if self._log_pending:
                    self._flush_access_log()
                for key, mask in select(wait):
                    data = key.data
                    if data is _LISTENER:
                        self._accept()
                    elif data is _WAKE:
                        try:
                            self._wake_r.recv(4096)
                        except OSError:
                            pass
                    else:
                        try:
                            if mask & _EV_READ:
                                self._on_readable(data)
                            if mask & _EV_WRITE:
                                if data.state == _WRITE:
                                    self._send(data)
                                elif data.state == _HANDSHAKE:
                                    self._handshake(data)
                        except Exception:
                            self._abandon(data)
                if heap and heap[0][0] <= time.monotonic():
                    self._expire()
                if self._accept_resume is not None and self._accept_resume <= time.monotonic():
                    self._resume_accepting()
        finally:
            self.close()

    def _pause_accepting(self) -> None:
        try:
            self._selector.unregister(self._listener)
        except (KeyError, ValueError):
            pass
        self._accept_resume = time.monotonic() + _ACCEPT_PAUSE

    def _resume_accepting(self) -> None:
        self._accept_resume = None
        if not self._stopping:
            self._selector.register(self._listener, _EV_READ, _LISTENER)

    def _flush_access_log(self) -> None:
        # Access lines are written between bursts of work, not while a client waits for its
        # reply; makeRecord skips the caller lookup a plain logger.info() would do.
        pending = self._log_pending
        self._log_pending = []
        make_record = logger.makeRecord
        for args in pending:
            record = make_record(logger.name, logging.INFO, __file__, 0, "%s %s %d %d %.1fms", args, None)
            record.kali_access = True
            logger.handle(record)
        for handler in logger.handlers:
            handler.flush()

    def close(self) -> None:
        """Close the listener and every connection (run() does this on the way out)."""
        if self._closed:
            return
        self._closed = True
        for conn in list(self._conns):
            self._close(conn)
        if self._log_pending:
            self._flush_access_log()
        for sock in (self._listener, self._wake_r, self._wake_w):
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        self._selector.close()

    def _drain_for_stop(self) -> bool:
        """Stop accepting; drop idle and streaming connections; True once nothing is left to send."""
        if self._stop_by is None:
            self._stop_by = time.monotonic() + self.shutdown_grace
            try:
                self._selector.unregister(self._listener)
            except (KeyError, ValueError):
                pass
            self._listener.close()
        for conn in list(self._conns):
            if conn.state != _WRITE or conn.stream is not None:
                self._close(conn)
        return not self._conns or time.monotonic() >= self._stop_by

    def _watch(self, conn: _Conn, mask: int) -> None:
        if conn.mask == mask:
            return
        if conn.mask == 0:
            self._selector.register(conn.sock, mask, conn)
        elif mask == 0:
            self._selector.unregister(conn.sock)
        else:
            self._selector.modify(conn.sock, mask, conn)
        conn.mask = mask

    def _set_deadline(self, conn: _Conn, when: float) -> None:
        conn.deadline = when
        if conn.queued is None or when < conn.queued:
            conn.queued = when
            heapq.heappush(self._heap, (when, next(self._seq), conn))

    def _expire(self) -> None:
        heap = self._heap
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            when, _, conn = heapq.heappop(heap)
            if conn.state == _CLOSED or when != conn.queued:
                continue        # a stale entry: the connection has a newer one
            conn.queued = None
            if conn.deadline is None:
                continue
            if conn.deadline > now:
                conn.queued = conn.deadline
                heapq.heappush(heap, (conn.deadline, next(self._seq), conn))
                continue
            conn.deadline = None
            try:
                self._on_deadline(conn)
            except Exception:
                self._abandon(conn)

    def _on_deadline(self, conn: _Conn) -> None:
        state = conn.state
        if state == _HANDSHAKE:
            self._close(conn)            # a client that never finished its TLS handshake
        elif state == _READ:
            if not conn.got_data:
                self._close(conn)        # a silent (speculative) connection: no reply
            else:
                self._fail(conn, ProtocolError(408, "The request took too long to arrive."))
        elif state == _PAUSE:
            conn.state = _WRITE
            self._send(conn)
        else:
            self._close(conn)            # a client that stopped reading, or a finished linger

    # -- reading --------------------------------------------------------------------

    def _accept(self) -> None:
        raw_accept = self._listener._accept  # type: ignore[attr-defined]
        family = self._family
        for _ in range(64):
            try:
                # socket.accept() minus its enum conversions: this runs once per request.
                fd, client = raw_accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of file descriptors or memory: the listener stays readable, so asking
                    # again at once would spin. Serve what is open and try again shortly.
                    logger.warning("accept failed (%s): pausing new connections for %.1f s",
                                   exc.strerror, _ACCEPT_PAUSE)
                    self._pause_accepting()
                    return
                logger.info("accept failed: %s", exc)     # e.g. the client gave up meanwhile
                continue
            sock = socket.socket(family, socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            if self.ssl_context is not None:
                try:
                    sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except OSError as exc:
                    logger.info("TLS setup failed for %s: %s", client[0], exc)
                    sock.close()
                    continue
                conn = _Conn(sock, client)
                conn.state = _HANDSHAKE
                self._conns.add(conn)
                self._set_deadline(conn, time.monotonic() + self.timeout)
                try:
                    self._handshake(conn)
                except Exception:
                    self._abandon(conn)
                continue
            conn = _Conn(sock, client)
            self._conns.add(conn)
            # On loopback the request has usually arrived already: try it before touching the selector.
            try:
                self._on_readable(conn)
            except Exception:
                self._abandon(conn)

    def _abandon(self, conn: _Conn) -> None:
        """Log an unexpected error met while serving one connection and drop it: the loop goes on."""
        logger.exception("internal error while serving %s; its connection was closed", conn.client[0])
        try:
            self._close(conn)
        except Exception:
            logger.exception("closing the connection failed too")

    def _handshake(self, conn: _Conn) -> None:
        import ssl
        try:
            conn.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self._watch(conn, _EV_READ)
            return
        except ssl.SSLWantWriteError:
            self._watch(conn, _EV_WRITE)
            return
        except OSError as exc:
            logger.info("TLS handshake with %s failed: %s", conn.client[0], exc)
            self._close(conn)
            return
        conn.state = _READ
        conn.deadline = None
        self._read_request(conn)

    def _on_readable(self, conn: _Conn) -> None:
        state = conn.state
        if state == _READ:
            self._read_request(conn)
        elif state == _HANDSHAKE:
            self._handshake(conn)
        elif state == _LINGER:
            self._discard_input(conn)
        elif state == _PAUSE or state == _WRITE:
            # The request is complete, so input now means the client went away (or sent junk).
            try:
                data = conn.sock.recv(_RECV_SIZE)
            except self._would_block:
                return
            except OSError:
                data = b""
            if not data:
                self._close(conn)

    def _read_request(self, conn: _Conn) -> None:
        sock = conn.sock
        size = _RECV_SIZE
        tls = self.ssl_context is not None
        for _ in range(16):
            try:
                data = sock.recv(size)
            except self._would_block:
                break
            except OSError:
                self._close(conn)
                return
            if not data:
                self._close(conn)        # the client gave up before finishing its request
                return
            parser = conn.parser
            if parser is None:
                conn.parser = parser = RequestParser(max_body_size=self.max_body_size)
                conn.got_data = True
                conn.started = time.perf_counter()
            parser.feed(data)
            try:
                if self._take_events(conn, parser):
                    return
            except ProtocolError as exc:
                self._fail(conn, exc)
                return
            if conn.state != _READ:
                return
            # A TLS record is at most 16 KiB: more may wait decrypted inside the SSL object.
            if len(data) < size and not (tls and sock.pending()):  # type: ignore[attr-defined]
                break
            size = _BIG_RECV
        if conn.state == _READ:
            # Deadlines are set only for sockets that must wait: the hot path never queues one.
            if not conn.got_data:
                if conn.deadline is None:
                    self._set_deadline(conn, time.monotonic() + self.timeout)
            elif conn.head is None:
                if conn.deadline is None or conn.deadline_kind != 1:
                    conn.deadline_kind = 1       # the whole head must arrive in request_timeout
                    elapsed = time.perf_counter() - conn.started
                    self._set_deadline(conn, time.monotonic() - elapsed + self.request_timeout)
            else:
                # Inside a body the deadline is an idle limit, renewed by progress.
                conn.deadline_kind = 2
                self._set_deadline(conn, time.monotonic() + self.request_timeout)
            self._watch(conn, _EV_READ)

    def _take_events(self, conn: _Conn, parser: RequestParser) -> bool:
        """Consume parser events; True once the request has been dispatched."""
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                return False
            if event is END:
                self._dispatch(conn)
                return True
            if type(event) is bytes:
                self._store_body(conn, event)
            else:
                assert isinstance(event, RequestHead)
                conn.head = event
                if event.expect_continue and not parser.buffered:
                    try:
                        conn.sock.send(_CONTINUE)
                    except OSError:
                        pass
                if event.content_length is not None and event.content_length <= SPOOL_SIZE:
                    conn.body = bytearray()
                elif event.has_body:
                    conn.body = tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE)

    def _store_body(self, conn: _Conn, data: bytes) -> None:
        body = conn.body
        try:
            if body is None:
                conn.body = body = tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE)
            if isinstance(body, bytearray):
                body += data
            else:
                body.write(data)
        except OSError as exc:
            # A large body is spooled to a temporary file: a full disk must cost this request, not
            # the loop (an OSError escaping here used to end the server).
            logger.error("could not store the request body from %s: %s", conn.client[0], exc)
            raise ProtocolError(507, "The server has no room to store this request's body.") from None

    def _discard_input(self, conn: _Conn) -> None:
        try:
            for _ in range(16):
                if not conn.sock.recv(_BIG_RECV):
                    self._close(conn)
                    return
        except self._would_block:
            return
        except OSError:
            self._close(conn)

    # -- handling ---------------------------------------------------------------------

    def _dispatch(self, conn: _Conn) -> None:
        head = conn.head
        assert head is not None
        body = conn.body
        if body is None:
            payload: bytes | IO[bytes] = b""
        elif isinstance(body, bytearray):
            payload = bytes(body)
        else:
            body.seek(0)
            payload = body
        conn.body = None
        request = Request.from_head(head, payload, conn.client, self.address, self.scheme)
        conn.request = request
        response = run_handler(self.handler, request, debug=self._debug_for(conn))
        self._respond(conn, response)

    def _debug_for(self, conn: _Conn) -> bool:
        # A traceback names files and code: show it only to a browser on this machine.
        return self.debug and is_local_client(conn.client[0])

    def _fail(self, conn: _Conn, error: HTTPError) -> None:
        """Answer a request that could not be read, then close without reading the rest."""
        head = conn.head
        logger.info("%s %s: %d %s", conn.client[0],
                    f"{head.method} {redact_target(head.target)}" if head else "request", error.status, error.message)
        # The client may still be sending: the reply goes first, then a half-close and a short
        # drain, because closing with unread input makes the kernel reset the connection and
        # the client would never see the reply.
        conn.linger = True
        # These answers never reach the app's wrappers, so they carry the protective headers here.
        self._respond(conn, Response.generic(error.status, error.message, headers=_ERROR_HEADERS))

    def _respond(self, conn: _Conn, response: Response) -> None:
        request = conn.request
        is_head = request is not None and request.method == "HEAD"
        try:
            self._prepare(conn, response, is_head)
        except Exception:
            if request is None:
                raise
            logger.exception("could not send the response of %s %s", request.method, redact_target(request.target))
            fallback = internal_error(request, debug=self._debug_for(conn))
            for name, value in _ERROR_HEADERS:
                fallback.headers.setdefault(name, value)
            self._prepare(conn, fallback, is_head)
        conn.deadline = None
        conn.response = response
        self._send(conn)

    def _prepare(self, conn: _Conn, response: Response, is_head: bool) -> None:
        content = response.content
        code = response.code
        fields, chunks = wire_fields(response)
        if is_head:
            chunks = []
        lines = [self._dates.lines()]
        lines += [f"{name}: {value}\r\n" for name, value in fields]
        lines.append("Connection: close\r\n\r\n")
        head = status_line(code) + "".join(lines).encode("latin-1")
        if isinstance(content, FileBody):
            length = content.length
            if not is_head and length:
                f = content.open()
                if f.closed:
                    # Reading it later would raise in the loop itself; say what happened instead.
                    raise ValueError("the FileBody's file was closed before it could be sent "
                                     "(returned from inside a 'with' block?)")
                conn.file = f
                conn.file_offset = content.offset
                conn.file_left = length
                try:
                    conn.file_fd = f.fileno() if _HAS_SENDFILE and self.ssl_context is None else -1
                except (OSError, ValueError):
                    conn.file_fd = -1       # not a real file (e.g. BytesIO): copy through memory
            elif content.file is not None:
                content.file.close()        # HEAD or an empty body: the handler's open file is never read
        elif isinstance(content, Stream):
            if is_head:
                content.close()
            else:
                conn.stream = content
        conn.code = code
        if chunks:
            if len(chunks) <= 4 and sum(map(len, chunks)) <= 32768:
                conn.out = [head + b"".join(chunks)]
            else:
                conn.out = [head, *chunks]
        else:
            conn.out = [head]
        conn.out_i = conn.out_off = 0
        conn.state = _WRITE

    # -- writing ----------------------------------------------------------------------

    def _send(self, conn: _Conn) -> None:
        """Write as much as the socket takes; register for writability only if it would block."""
        sock = conn.sock
        gather = _HAS_SENDMSG and self.ssl_context is None
        try:
            while True:
                out = conn.out
                i = conn.out_i
                if i < len(out):
                    if len(out) - i == 1 or not gather:
                        buf = out[i]
                        n = sock.send(memoryview(buf)[conn.out_off:] if conn.out_off else buf)
                    else:
                        bufs: list[Any] = out[i:i + _IOV_MAX]
                        if conn.out_off:
                            bufs[0] = memoryview(bufs[0])[conn.out_off:]
                        n = sock.sendmsg(bufs)
                    conn.sent += n
                    off = conn.out_off + n
                    while i < len(out) and off >= len(out[i]):
                        off -= len(out[i])
                        i += 1
                    conn.out_i, conn.out_off = i, off
                    if i < len(out):
                        continue
                    conn.out = []
                    conn.out_i = conn.out_off = 0
                if conn.file is not None:
                    if not self._send_file(conn):
                        continue
                    conn.file.close()
                    conn.file = None
                if conn.stream is not None:
                    more = self._pull_stream(conn)
                    if more is None:
                        return          # paused, or waiting for the loop to come back
                    if more:
                        continue
                self._finish(conn)
                return
        except self._would_block:
            self._watch(conn, _EV_WRITE | (_EV_READ if conn.stream is not None else 0))
            self._set_deadline(conn, time.monotonic() + self.write_timeout)
        except OSError as exc:
            if not isinstance(exc, _DISCONNECTED) and exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                logger.debug("send failed: %s", exc)
            self._finish(conn, complete=False)

    def _send_file(self, conn: _Conn) -> bool:
        """Send the next piece of a file body; True when it is all sent."""
        f = conn.file
        assert f is not None
        if conn.file_left <= 0:
            return True
        count = min(conn.file_left, 1 << 22)
        n = -1
        if conn.file_fd >= 0:
            try:
                n = os.sendfile(conn.sock.fileno(), conn.file_fd, conn.file_offset, count)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                conn.file_fd = -1     # this file or socket cannot sendfile: copy instead
        if n < 0:
            f.seek(conn.file_offset)
            block = f.read(min(count, 1 << 18))
            if not block:
                raise OSError(errno.EIO, "the file ended early")
            conn.out = [block]
            conn.out_i = conn.out_off = 0
            conn.file_offset += len(block)
            conn.file_left -= len(block)
            return False
        if n == 0:
            raise OSError(errno.EIO, "the file shrank while it was being sent")
        conn.sent += n
        conn.file_offset += n
        conn.file_left -= n
        return conn.file_left <= 0

    def _pull_stream(self, conn: _Conn) -> bool | None:
        """Queue the stream's next pieces: True if there is data, False at its end, None to wait."""
        stream = conn.stream
        assert stream is not None
        if conn.streamed_items >= 16:
            # Let other connections have a turn; the loop calls back when writable.
            conn.streamed_items = 0
            self._watch(conn, _EV_WRITE | _EV_READ)
            self._set_deadline(conn, time.monotonic() + self.write_timeout)
            return None
        conn.streamed_items += 1
        try:
            item = next(stream.iterator)
            # Encoding belongs inside the try: an item that is not an iolist (a dict, a lone
            # surrogate) is the stream's failure, and must not escape into the loop.
            chunks = to_chunks(item) if type(item) is not Pause else []
        except StopIteration:
            conn.stream = None
            return False
        except Exception:
            request = conn.request
            logger.exception("the streamed response of %s %s failed", request.method if request else "?",
                             redact_target(request.target) if request else "?")
            # The connection closes next, and closing it closes the stream (running its finally blocks).
            raise OSError(errno.EIO, "stream failed") from None
        if type(item) is Pause:
            conn.state = _PAUSE
            conn.streamed_items = 0
            self._watch(conn, _EV_READ)
            self._set_deadline(conn, time.monotonic() + item.seconds)
            return None
        conn.out = chunks
        conn.out_i = conn.out_off = 0
        return True

    def _finish(self, conn: _Conn, complete: bool = True) -> None:
        if conn.linger and complete:
            try:
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self._close(conn)
                return
            conn.state = _LINGER
            conn.out = []
            self._watch(conn, _EV_READ)
            conn.deadline = None
            self._set_deadline(conn, time.monotonic() + 2.0)
            self._discard_input(conn)
            return
        self._close(conn)

    def _close(self, conn: _Conn) -> None:
        if conn.state == _CLOSED:
            return
        conn.state = _CLOSED
        self._conns.discard(conn)
        if conn.mask:
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.mask = 0
        try:
            conn.sock.close()
        except OSError:
            pass
        if conn.file is not None:
            conn.file.close()
            conn.file = None
        if conn.stream is not None:
            try:
                conn.stream.close()
            except Exception:
                logger.exception("closing a streamed response failed")
            conn.stream = None
        body = conn.body
        if body is not None and not isinstance(body, bytearray):
            body.close()
        request = conn.request
        response = conn.response
        if request is not None:
            request.close()
            if logger.isEnabledFor(logging.INFO):
                ms = (time.perf_counter() - conn.started) * 1000.0
                # The launch token opens a private app: it does not belong in a log file.
                target = redact_target(request.target)
                self._log_pending.append((request.method, target, conn.code, conn.sent, ms))
        # Stale deadline entries may still point here: keep them from pinning the request.
        conn.request = conn.response = conn.parser = conn.head = None
        conn.out = []
        if response is not None and response.shut_down:
            self.stop()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def serve_http(handler: Handler, *, port: int = 8080, address: str = "127.0.0.1",
               start: str | None = "", timeout: float = 1.0, request_timeout: float = 10.0,
               max_body_size: int | None = 4 << 30, debug: bool | None = None,
               access_log: bool = True, ssl_context: Any = None, secure: bool = True,
               allowed_hosts: Iterable[str] = (), allow_cross_site: Iterable[str] = (),
               private: bool = False) -> None:
    """Serve `handler` on one thread until Ctrl-C, SIGTERM or a `shut_down` response.

    `KALI_PORT` (0 picks a free port) and `KALI_NO_BROWSER=1` override the
    arguments, so scripts and tests can run any app unattended.

    Unless `secure=False`, the handler is wrapped by `kali.security.secure`:
    only requests naming this server in `Host` (plus `allowed_hosts`) are
    answered, other sites cannot POST/PUT/PATCH/DELETE (except to the
    `allow_cross_site` path patterns), and every response gets protective
    headers.  `private=True` also requires the launch token the browser is
    opened with.  `debug` (tracebacks on 500 pages, only ever shown to this
    machine) defaults to on for loopback binds and off otherwise.
    """
    from .security import TOKEN_PARAMETER, SecurityWrapper, is_loopback_address, secure as secure_handler

    env_port = os.environ.get("KALI_PORT", "").strip()
    if env_port:
        if not env_port.isdigit() or int(env_port) > 65535:
            raise ValueError(f"KALI_PORT must be a port number, not {env_port!r}")
        port = int(env_port)
    if _env_flag("KALI_NO_BROWSER"):
        start = None
    loopback = is_loopback_address(address)
    if debug is None:
        debug = loopback
    allowed_hosts = tuple(allowed_hosts)
    allow_cross_site = tuple(allow_cross_site)
    token: str | None = None
    if secure:
        if private:
            import secrets
            token = secrets.token_urlsafe(32)
        if isinstance(handler, SecurityWrapper):
            # The app wrapped itself: a second wrapper would refuse the hosts the first one allows.
            if allowed_hosts or allow_cross_site or private:
                raise ValueError("the handler is already wrapped by kali.security.secure(): pass "
                                 "allowed_hosts=, allow_cross_site= and private= either to secure() "
                                 "or to serve_http(), not both")
            allowed_hosts = handler.allowed_hosts
        else:
            handler = secure_handler(handler, allowed_hosts=allowed_hosts,
                                     allow_cross_site=allow_cross_site, private_token=token, debug=debug)
    elif private:
        raise ValueError("serve_http(private=True) needs secure=True: the security wrapper checks the launch token")
    if secure and not loopback and not allowed_hosts:
        raise ValueError(
            f"serve_http(address={address!r}) makes the app reachable from other machines, so it must "
            f"name the hosts browsers will use to reach it: pass allowed_hosts=[...] (for example "
            f"the machine's name or IP address), or bind to address='127.0.0.1' to keep it private")
    _configure_logging(access_log)
    server = Server(handler, port=port, address=address, timeout=timeout,
                    request_timeout=request_timeout, max_body_size=max_body_size, debug=debug,
                    ssl_context=ssl_context)
    if not loopback:
        if address in ("", "0.0.0.0", "::"):
            where = f"every network interface ({address or '*'}:{server.port})"
            reach = f"this machine's port {server.port}"
        else:
            where = reach = f"{address}:{server.port}"
        names = f"it answers to {', '.join(allowed_hosts)}" if secure else "secure=False: no Host or cross-site checks"
        logger.warning("listening on %s, not only on this machine: anyone on the network who can reach %s "
                       "can use this app (%s)", where, reach, names)
    print(f"kali: serving {server.url}", flush=True)
    url = server.url + (start or "").lstrip("/")
    if token is not None:
        url += ("&" if "?" in url else "?") + f"{TOKEN_PARAMETER}={token}"
        print(f"kali: private app: open {url}", flush=True)
    launch_folder: str | None = None
    if start is not None:
        if token is not None:
            # A URL given to the browser lands on its command line, which other users of the
            # machine can read (ps); a page only this user can read carries the token instead.
            launch_folder, launch_url = _private_launch_page(url)
            _open_browser(launch_url, cleanup=launch_folder)
        else:
            _open_browser(url)
    restore = _install_signal_handlers(server)
    try:
        server.run()
    finally:
        restore()
        if launch_folder is not None:
            shutil.rmtree(launch_folder, ignore_errors=True)


class _ClockFormatter(logging.Formatter):
    """'HH:MM:SS message', formatting the clock once a second rather than once a line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", "%H:%M:%S")
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%H:%M:%S", time.localtime(second))
        return self._text


class _AccessLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stderr; access lines are gathered and written in one go when the loop flushes."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "kali_access", False):
            try:
                self._lines.append(self.format(record) + self.terminator)
            except Exception:
                self.handleError(record)
        else:
            self.flush()
            super().emit(record)

    def flush(self) -> None:
        if self._lines:
            text = "".join(self._lines)
            self._lines = []
            try:
                self.stream.write(text)
            except (OSError, ValueError):
                pass     # a closed terminal must not take the server down
        super().flush()


def _configure_logging(access_log: bool) -> None:
    kali_logger = logging.getLogger("kali")
    if not kali_logger.handlers and not logging.getLogger().handlers:
        handler = _AccessLogHandler()
        handler.setFormatter(_ClockFormatter())
        kali_logger.addHandler(handler)
    if kali_logger.level == logging.NOTSET:
        kali_logger.setLevel(logging.INFO if access_log else logging.WARNING)


def _private_launch_page(url: str) -> tuple[str, str]:
    """A page readable by this user only that sends the browser on to `url`: (its folder, its URL)."""
    import html
    from pathlib import Path
    folder = tempfile.mkdtemp(prefix="kali-launch-")         # mode 0700
    path = os.path.join(folder, "open.html")
    link = html.escape(url)
    page = (f'<!DOCTYPE html>\n<meta charset="utf-8"><meta http-equiv="refresh" content="0;url={link}">'
            f'<title>Opening the app</title>\n<p><a href="{link}">Open the app</a></p>\n')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(page)
    return folder, Path(path).as_uri()


def _open_browser(url: str, cleanup: str | None = None) -> None:
    def target() -> None:
        import webbrowser
        try:
            webbrowser.open(url)
        except Exception as exc:    # a missing browser must not stop the app
            logger.warning("could not open a browser: %s", exc)
        if cleanup is not None:
            time.sleep(60)           # long enough for the browser to read the launch page
            shutil.rmtree(cleanup, ignore_errors=True)
    # Some platforms' webbrowser.open waits for the browser process; the loop must not.
    threading.Thread(target=target, name="kali-browser", daemon=True).start()


def _install_signal_handlers(server: Server) -> Callable[[], None]:
    import signal       # here: building its enums costs start-up time, and only serve_http needs it
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: Any) -> None:
        logger.info("signal %d: finishing responses in flight, then stopping", signum)
        server.stop()

    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if sig is not None:
            previous[sig] = signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return restore

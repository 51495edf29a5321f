"""`Server`: one thread, one readiness loop (`kali.poller`), many sockets, HTTP/1.0 responses.

The loop never waits on one socket: a browser's silent speculative connection
or a client sending a byte at a time costs nothing while other requests are
served.  Only the handler is serialised, so application code may keep one
SQLite connection and use it from every request.

The server is three parts, each readable on its own:

- this module: the loop -- binding, accepting (and backing off when file
  descriptors run out), the deadline queue, stopping;
- `kali.connection`: one connection's state machine -- reading its request,
  answering it, lingering, closing;
- `kali.outgoing`: response serialisation -- the head's bytes and the body
  as the socket takes it (`sendmsg`, `sendfile`, streams pulled item by item).

What happens to a request and its response is `kali.exchange`'s, shared with
the test client and the WSGI adapter; the access log is `kali.access_log`;
running an app as a program (`serve_http`: the browser, signals, environment
overrides) is `kali.launch`.

On the hot path (loopback, small request) a connection is accepted, read,
handled, answered and closed without touching the selector; sockets are
registered only when they would block.
"""

from __future__ import annotations

import errno
import gc
import itertools
import os
import socket
import time

from .access_log import AccessLog
from .connection import CLOSED, HANDSHAKE, READ, WRITE, Connection, Deadline, answer_at_once
from .log import get_logger
from .outgoing import DateLines
from .poller import READ as _EV_READ, WRITE as _EV_WRITE, Poller
from .response import Handler

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any
    from .launch import serve_http as serve_http

__all__ = ["Server", "listening_socket", "local_url", "serve_http"]

logger = get_logger()

_ACCEPT_BURST = 16          # connections accepted in a row under load, before the open ones get a turn
_PROBE_EVERY = 8            # single accepts between two tries for a burst
_ACCEPT_PAUSE = 0.1         # seconds without accepting after running out of file descriptors
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_WAKE = object()
_NEVER = float("inf")
# The C socket type under socket.socket: what a plain connection needs (recv, send, sendmsg,
# close) without socket.socket's Python-level __init__ and close, which run once per request.
_Socket = socket.SocketType
# Where the platform allows, a connection's socket is made without the ioctl that setblocking()
# costs: Python is told the socket does not block (SOCK_NONBLOCK in the type it is given) and
# every recv/send passes MSG_DONTWAIT (`Server.io_flags`), so the descriptor itself may stay
# blocking. It is switched for real only before os.sendfile(), which takes no flags.
_LAZY_NONBLOCK = hasattr(socket, "SOCK_NONBLOCK") and hasattr(socket, "MSG_DONTWAIT")
# The type a connection's socket is made with (an int: computed once, not per accept).
_CONN_TYPE = int(socket.SOCK_STREAM | socket.SOCK_NONBLOCK) if _LAZY_NONBLOCK else int(socket.SOCK_STREAM)
_LISTENER = object()


def __getattr__(name: str) -> Any:
    # serve_http moved to kali.launch (the life of an app as a program); this import keeps working.
    if name == "serve_http":
        from .launch import serve_http
        return serve_http
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def listening_socket(address: str, port: int) -> socket.socket:
    """A non-blocking socket bound to (address, port) and listening; OSError (errno kept) if it cannot be."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "posix":
            # Lets a restarted app bind at once although old connections linger in TIME_WAIT
            # (on POSIX it never lets two programs listen on one port).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        elif hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            # Windows: no other program may bind this port while the app listens on it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        sock.bind((address, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {address}:{port}: {exc.strerror}") from None
    return sock



def local_url(address: tuple[Any, ...], scheme: str) -> str:
    """The base URL a browser on this machine opens for a socket bound to `address` (a wildcard means loopback)."""
    host, port = address[0], address[1]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"

class Server:
    """A bound listening socket plus the loop that serves `handler` on it.

    The connections (`kali.connection.Connection`) use the loop's selector,
    deadline queue, access log and date lines: the attributes starting with '_'.
    `sock`, a socket already bound and listening (see `listening_socket`), is
    served instead of binding `address` and `port`: a launcher that chose the
    port, or a supervisor whose child processes inherit the socket, passes it.
    """

    def __init__(self, handler: Handler, *, port: int = 8080, address: str = "127.0.0.1",
                 timeout: float = 1.0, request_timeout: float = 10.0, write_timeout: float = 60.0,
                 max_body_size: int | None = 4 << 30, debug: bool = True,
                 shutdown_grace: float = 5.0, ssl_context: Any = None,
                 sock: socket.socket | None = None) -> None:
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
        #: The flags every recv() and send() on a connection passes (see _LAZY_NONBLOCK; TLS takes none).
        self.io_flags = socket.MSG_DONTWAIT if _LAZY_NONBLOCK and ssl_context is None else 0
        self._would_block: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError)
        if ssl_context is not None:
            import ssl
            self._would_block += (ssl.SSLWantReadError, ssl.SSLWantWriteError)
        if sock is None:
            sock = listening_socket(address, port)
        else:
            sock.setblocking(False)
        self._listener = sock
        self._family = int(self._listener.family)
        bound = self._listener.getsockname()
        self.address: tuple[str, int] = (bound[0], bound[1])
        self._poller = Poller()
        self._poller.register(self._listener, _EV_READ, _LISTENER)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._poller.register(self._wake_r, _EV_READ, _WAKE)
        self._conns: set[Connection] = set()
        import heapq        # here: `import kali` need not load it
        self._heappush, self._heappop = heapq.heappush, heapq.heappop
        self._heap: list[tuple[float, int, Connection]] = []
        self._seq = itertools.count()
        self._dates = DateLines()
        self._access_log = AccessLog()
        self._accept_resume: float | None = None
        #: Whether connections are accepted in bursts (see _accept), and single accepts since the last try.
        self._bursting = False
        self._single_accepts = 0
        #: The earliest time.monotonic() at which something is due (see _on_time).
        self._wake_at = _NEVER
        self._stopping = False
        self._finish_requests = False
        self._stop_by: float | None = None
        self._closed = False

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return self.address[1]

    @property
    def url(self) -> str:
        """The base URL a local browser should open."""
        return local_url(self.address, self.scheme)

    @property
    def accepting(self) -> bool:
        """Whether the loop still accepts new connections (False from the moment a stop begins)."""
        return self._stop_by is None and not self._closed

    def wakeup_socket(self) -> socket.socket:
        """A duplicate of the socket that wakes the loop when a byte is sent to it (for signal.set_wakeup_fd).

        The caller closes it; until then it stays valid even after the loop has closed its own.
        """
        return self._wake_w.dup()

    def stop(self, *, finish_requests: bool = False) -> None:
        """Ask the loop to finish responses in flight and return (safe from any thread or signal).

        `finish_requests`: also answer the requests still arriving on connections already
        accepted (a `run --reload` swap: another process serves the same socket, and a client
        that connected here may not have sent its request yet).  A later stop without it
        closes them after all.
        """
        self._finish_requests = finish_requests
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # -- the loop -------------------------------------------------------------------

    def run(self) -> None:
        """Serve until `stop()` is called or a response asks to shut down."""
        poll = self._poller.poll
        access_log = self._access_log
        monotonic = time.monotonic
        # Everything loaded so far (the app, its templates, its routes) lives as long as the
        # server: keep the cyclic garbage collector from walking it again and again.
        gc.freeze()
        try:
            while True:
                if self._stopping and self._drain_for_stop():
                    break
                wake_at = self._wake_at
                if access_log.pending and access_log.due < wake_at:
                    wake_at = self._wake_at = access_log.due
                for data, events in poll(None if wake_at == _NEVER else max(0.0, wake_at - monotonic())):
                    if data is _LISTENER:
                        self._accept()
                    elif data is _WAKE:
                        try:
                            self._wake_r.recv(4096)
                        except OSError:
                            pass
                    else:
                        try:
                            if events & _EV_READ:
                                data.on_readable()
                            if events & _EV_WRITE:
                                data.on_writable()
                        except Exception:
                            self._abandon(data)
                if self._wake_at <= monotonic():
                    self._on_time()
        finally:
            self.close()

    def _on_time(self) -> None:
        """Do what is due (access lines, deadlines, the end of an accept pause) and find when next."""
        now = time.monotonic()
        access_log = self._access_log
        if access_log.pending and access_log.due <= now:
            # Access lines are written in batches between requests, never while a client waits.
            access_log.flush()
        heap = self._heap
        if heap and heap[0][0] <= now:
            self._expire(now)
        # Entries of connections answered since they were queued (a request that came just after
        # its connection) are stale: drop them from the top now, so the loop does not wake up
        # once for each of them.
        while heap and (heap[0][2].state is CLOSED or heap[0][0] != heap[0][2].queued):
            self._heappop(heap)
        if self._accept_resume is not None and self._accept_resume <= now:
            self._resume_accepting()
        wake_at = access_log.due if access_log.pending else _NEVER
        for when in (heap[0][0] if heap else None, self._stop_by, self._accept_resume):
            if when is not None and when < wake_at:
                wake_at = when
        self._wake_at = wake_at

    def _wake_by(self, when: float) -> None:
        """Have the loop call _on_time by `when` (time.monotonic()) at the latest."""
        if when < self._wake_at:
            self._wake_at = when

    def close(self) -> None:
        """Close the listener and every connection (run() does this on the way out)."""
        if self._closed:
            return
        self._closed = True
        for conn in list(self._conns):
            conn.close()
        if self._access_log.pending:
            self._access_log.flush()
        for sock in (self._listener, self._wake_r, self._wake_w):
            self._poller.unregister(sock)
            sock.close()
        self._poller.close()

    def _drain_for_stop(self) -> bool:
        """Stop accepting; drop idle and streaming connections; True once nothing is left to send."""
        if self._stop_by is None:
            self._stop_by = time.monotonic() + self.shutdown_grace
            self._wake_by(self._stop_by)
            self._poller.unregister(self._listener)
            self._listener.close()
        for conn in list(self._conns):
            outgoing = conn.outgoing
            if conn.state is READ and self._finish_requests:
                continue        # answered, or closed by its own deadline (a silent one after `timeout`)
            if conn.state is not WRITE or (outgoing is not None and outgoing.stream is not None):
                conn.close()
        return not self._conns or time.monotonic() >= self._stop_by

    # -- accepting ------------------------------------------------------------------

    def _accept(self) -> None:
        # One request at a time (ab -c1, a browser) brings one connection per readiness event:
        # accept it and go back to the poller, sparing the accept() that would only fail with
        # BlockingIOError. Under load (several clients connecting at once) the listener is
        # ready again the moment the loop returns, and a turn of the loop per connection costs
        # an epoll_wait: then connections are accepted in bursts of up to _ACCEPT_BURST before
        # those already open get their turn. Which applies is learnt: a burst that finds the
        # queue empty ends burst mode, and every _PROBE_EVERY-th single accept tries for more.
        if not self._accept_one():
            return
        if not self._bursting:
            self._single_accepts += 1
            if self._single_accepts < _PROBE_EVERY:
                return
            self._single_accepts = 0
        for _ in range(_ACCEPT_BURST - 1):
            if self._stopping or not self._accept_one():
                self._bursting = False
                return
        self._bursting = True

    def _accept_one(self) -> bool:
        """Accept and serve one waiting connection; False if none was waiting (or accepting failed)."""
        try:
            # socket.accept() minus its enum conversions: this runs once per request.
            fd, client = self._listener._accept()  # type: ignore[attr-defined]
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                # Out of file descriptors or memory: the listener stays readable, so asking
                # again at once would spin. Serve what is open and try again shortly.
                logger.warning("accept failed (%s): pausing new connections for %.1f s",
                               exc.strerror, _ACCEPT_PAUSE)
                self._pause_accepting()
            else:
                logger.info("accept failed: %s", exc)     # e.g. the client gave up meanwhile
            return False
        if self.ssl_context is not None:
            tls = socket.socket(self._family, socket.SOCK_STREAM, 0, fd)
            tls.setblocking(False)
            self._accept_tls(tls, client)
            return True
        sock = _Socket(self._family, _CONN_TYPE, 0, fd)
        if not _LAZY_NONBLOCK:
            sock.setblocking(False)
        # On loopback the request has usually arrived already: try it before touching the
        # selector, or making a Connection (one joins self._conns only if it must wait).
        try:
            answer_at_once(self, sock, client)
        except Exception:
            self._abandon_accepted(sock, client)
        return True

    def _accept_tls(self, sock: socket.socket, client: Any) -> None:
        try:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:
            logger.info("TLS setup failed for %s: %s", client[0], exc)
            sock.close()
            return
        conn = Connection(self, sock, client, HANDSHAKE)
        self._conns.add(conn)
        conn.wait_for(Deadline.HANDSHAKE, self.timeout)
        try:
            conn.handshake()
        except Exception:
            self._abandon(conn)

    def _pause_accepting(self) -> None:
        self._poller.unregister(self._listener)
        self._accept_resume = time.monotonic() + _ACCEPT_PAUSE
        self._wake_by(self._accept_resume)

    def _resume_accepting(self) -> None:
        self._accept_resume = None
        if not self._stopping:
            self._poller.register(self._listener, _EV_READ, _LISTENER)

    def _abandon_accepted(self, sock: socket.SocketType, client: Any) -> None:
        """`_abandon` for a connection met by an error on the straight line, with or without a Connection."""
        for conn in self._conns:
            if conn.sock is sock:
                self._abandon(conn)       # it had left the straight line: close it as one
                return
        logger.exception("internal error while serving %s; its connection was closed", client[0])
        try:
            sock.close()
        except OSError:
            pass

    def _abandon(self, conn: Connection) -> None:
        """Log an unexpected error met while serving one connection and drop it: the loop goes on."""
        logger.exception("internal error while serving %s; its connection was closed", conn.client[0])
        try:
            conn.close()
        except Exception:
            logger.exception("closing the connection failed too")

    # -- deadlines ------------------------------------------------------------------

    def _schedule(self, conn: Connection, when: float) -> None:
        """Make `when` the connection's deadline (the queue keeps its earliest entry; later ones are re-queued)."""
        conn.deadline = when
        if conn.queued is None or when < conn.queued:
            conn.queued = when
            self._heappush(self._heap, (when, next(self._seq), conn))
            self._wake_by(when)

    def _expire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, conn = self._heappop(heap)
            if conn.state is CLOSED or when != conn.queued:
                continue        # a stale entry: the connection has a newer one
            conn.queued = None
            if conn.deadline is None:
                continue
            if conn.deadline > now:
                conn.queued = conn.deadline
                self._heappush(heap, (conn.deadline, next(self._seq), conn))
                continue
            conn.deadline = None
            try:
                conn.on_deadline()
            except Exception:
                self._abandon(conn)

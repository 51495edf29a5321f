"""One client connection of the server: read one request, answer it, close.

A connection is always in one of the `ConnState`s, and moves only along these
edges (`Connection.move` refuses any other, so a bug shows as an error that
names the move instead of a connection stuck in the wrong state):

    HANDSHAKE --TLS handshake done------------------------------------> READ
    READ      --request complete, or refused with a 4xx/5xx-----------> WRITE
    WRITE     --the streamed body yielded Pause(seconds)--------------> PAUSE
    PAUSE     --the pause is over---------------------------------------> WRITE
    WRITE     --all sent, but the request was refused before it was read --> LINGER
    any       --all sent, client gone, deadline passed, error, stop-----> CLOSED

A connection waits for at most one thing at a time, and what happens when the
wait is too long depends on what it waited for (`Deadline`):

    FIRST_BYTE  a new connection's first packet (`timeout`)     -> closed without a reply
    HANDSHAKE   the TLS handshake (`timeout`)                   -> closed
    HEAD        the whole request head (`request_timeout` from its first byte) -> 408
    BODY        the next piece of the body (`request_timeout`, renewed by progress) -> 408
    WRITE       the client taking bytes (`write_timeout`)      -> closed
    PAUSE       the end of a stream's Pause                     -> the stream goes on
    LINGER      the client's leftover input, drained after a refusal (2 s) -> closed

On the hot path (loopback, a small request) a connection is read, answered
and closed right after accept() by `answer_at_once`, in a straight line: it
never waits, so it never touches the selector or the deadline queue, and it
needs no Connection at all.  One is made only when a request leaves that line
(it must wait, has a body, or its reply does), and goes on from where it is.
"""

from __future__ import annotations

import errno
import enum
import socket
import time

from .errors import HTTPError
from .exchange import Reply, RequestReader, prepare_reply, read_whole_request, refusal, replacement_reply
from .http import ProtocolError, redact_target
from .log import get_logger
from .outgoing import PAUSED, SENT, Outgoing, reply_in_one_buffer
from .poller import READ as _EV_READ, WRITE as _EV_WRITE
from .request import Request
from .response import FileBody, Response, Stream, run_handler, wire_form

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any
    from .server import Server

__all__ = ["ConnState", "Deadline", "Connection", "IllegalMove", "answer_at_once", "answer_whole"]

logger = get_logger()


class ConnState(enum.Enum):
    """Where a connection is in its life (see the module docstring for the moves between them)."""

    HANDSHAKE = "handshake"     # a TLS connection before its handshake is done
    READ = "read"               # reading the request
    WRITE = "write"             # sending the response
    PAUSE = "pause"             # a streamed response waits for its Pause to end
    LINGER = "linger"           # the reply is sent; draining what the client still sends, then closing
    CLOSED = "closed"

    # Members are singletons compared by identity: hash them by identity too, in C (Enum's
    # own __hash__ is Python code, and `move` looks states up twice per move).
    __hash__ = object.__hash__


class Deadline(enum.Enum):
    """What a connection's deadline is waiting for (see the module docstring for what each one does)."""

    FIRST_BYTE = "first byte"
    HANDSHAKE = "handshake"
    HEAD = "head"
    BODY = "body"
    WRITE = "write"
    PAUSE = "pause"
    LINGER = "linger"


# Module-level names for the states: compared on every event, so looked up once here.
HANDSHAKE, READ, WRITE, PAUSE, LINGER, CLOSED = (
    ConnState.HANDSHAKE, ConnState.READ, ConnState.WRITE, ConnState.PAUSE, ConnState.LINGER, ConnState.CLOSED)

#: The allowed moves, written once: state -> the states it may move to.
MOVES: dict[ConnState, frozenset[ConnState]] = {
    HANDSHAKE: frozenset({READ, CLOSED}),
    READ: frozenset({WRITE, CLOSED}),
    WRITE: frozenset({PAUSE, LINGER, CLOSED}),
    PAUSE: frozenset({WRITE, CLOSED}),
    LINGER: frozenset({CLOSED}),
    CLOSED: frozenset(),
}

_RECV_SIZE = 65536
_BIG_RECV = 262144
_READS_PER_TURN = 16        # recv() calls for one connection before the loop serves the others
_LINGER_SECONDS = 2.0
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_DISCONNECTED = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class IllegalMove(RuntimeError):
    """A connection was asked to move between states the table does not connect (a bug in kali)."""


class Connection:
    """One client connection: its state, the request being read and the response being sent."""

    __slots__ = ("server", "sock", "client", "state", "mask", "reader", "deadline", "deadline_kind", "queued",
                 "request", "response", "outgoing", "code", "started", "linger")

    def __init__(self, server: Server, sock: socket.SocketType, client: Any, state: ConnState = READ) -> None:
        self.server = server
        self.sock = sock
        #: The client's address as accept() gave it.
        self.client = client
        self.state = state
        #: The selector events this socket is registered for (0: not registered).
        self.mask = 0
        self.reader: RequestReader | None = None
        #: When the current wait ends (time.monotonic()), and what is waited for.
        self.deadline: float | None = None
        self.deadline_kind: Deadline | None = None
        #: The earliest deadline of this connection in the server's queue.
        self.queued: float | None = None
        self.request: Request | None = None
        self.response: Response | None = None
        self.outgoing: Outgoing | None = None
        self.code = 0
        #: time.perf_counter() at the request's first byte.
        self.started = 0.0
        #: After the reply, half-close and drain instead of closing (the request was not read).
        self.linger = False

    def move(self, new: ConnState) -> None:
        """Enter state `new`, if the table of moves allows it from the current one."""
        if new not in MOVES[self.state]:
            raise IllegalMove(f"a connection cannot move from {self.state.name} to {new.name}")
        self.state = new

    # -- waiting -------------------------------------------------------------------

    def _watch(self, mask: int) -> None:
        """Have the loop's selector report `mask` events of this socket (`close` unregisters it)."""
        if self.mask == mask:
            return
        if self.mask == 0:
            self.server._poller.register(self.sock, mask, self)
        else:
            self.server._poller.modify(self.sock, mask, self)
        self.mask = mask

    def wait_for(self, kind: Deadline, seconds: float) -> None:
        """Wait for `kind` for at most `seconds` from now (the server's deadline queue keeps the time)."""
        self.deadline_kind = kind
        self.server._schedule(self, time.monotonic() + seconds)

    # -- events from the loop --------------------------------------------------------

    def on_readable(self) -> None:
        """The socket has input (or the client closed it)."""
        state = self.state
        if state is READ:
            self.read_request()
        elif state is HANDSHAKE:
            self.handshake()
        elif state is LINGER:
            self._discard_input()
        elif state is PAUSE or state is WRITE:
            # The request is complete, so input now means the client went away (or sent junk).
            try:
                data = self.sock.recv(_RECV_SIZE, self.server.io_flags)
            except self.server._would_block:
                return
            except OSError:
                data = b""
            if not data:
                self.close()

    def on_writable(self) -> None:
        """The socket takes output again."""
        if self.state is WRITE:
            self.send()
        elif self.state is HANDSHAKE:
            self.handshake()

    def on_deadline(self) -> None:
        """The current wait took too long (see `Deadline`)."""
        kind = self.deadline_kind
        if kind is Deadline.HEAD or kind is Deadline.BODY:
            self.fail(ProtocolError(408, "The request took too long to arrive."))
        elif kind is Deadline.PAUSE:
            self.move(WRITE)
            self.send()
        else:
            # A silent (speculative) connection, an unfinished TLS handshake, a client that
            # stopped reading, or a finished linger: close without a (further) reply.
            self.close()

    # -- reading -------------------------------------------------------------------

    def handshake(self) -> None:
        """Go on with the TLS handshake; read the request once it is done."""
        import ssl
        try:
            self.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self._watch(_EV_READ)
            return
        except ssl.SSLWantWriteError:
            self._watch(_EV_WRITE)
            return
        except OSError as exc:
            logger.info("TLS handshake with %s failed: %s", self.client[0], exc)
            self.close()
            return
        self.move(READ)
        self.deadline = None
        self.read_request()

    def read_request(self, first: bytes = b"") -> None:
        """Read what has arrived; answer once the request is complete, else wait for more.

        `first`: bytes already received on a new connection that are not a whole request by
        themselves (see `answer_whole`).
        """
        sock = self.sock
        server = self.server
        size = _RECV_SIZE
        flags = server.io_flags
        for _ in range(_READS_PER_TURN):
            if first:
                data, first = first, b""
                self.reader = RequestReader(max_body_size=server.max_body_size)
            else:
                try:
                    data = sock.recv(size, flags)
                except server._would_block:
                    break
                except OSError:
                    self.close()
                    return
                if not data:
                    self.close()        # the client gave up before finishing its request
                    return
            reader = self.reader
            if reader is None:
                # Usually the whole request is in the first packet: then no parser is needed.
                answer_whole(server, sock, self.client, data, self)
                return
            try:
                complete = reader.feed(data)
            except ProtocolError as exc:
                self.fail(exc)
                return
            if complete:
                self._dispatch()
                return
            if reader.wants_continue():
                try:
                    sock.send(_CONTINUE, flags)
                except OSError:
                    pass
            # A TLS record is at most 16 KiB: more may wait decrypted inside the SSL object.
            if len(data) < size and not (server.ssl_context is not None and sock.pending()):  # type: ignore[attr-defined]
                break
            size = _BIG_RECV
        self._wait_for_request()

    def _wait_for_request(self) -> None:
        # Deadlines are set only for sockets that must wait: the hot path never queues one.
        reader = self.reader
        if reader is None:
            if self.deadline is None:
                self.wait_for(Deadline.FIRST_BYTE, self.server.timeout)
        elif reader.head is None:
            if self.deadline is None or self.deadline_kind is not Deadline.HEAD:
                # The whole head must arrive within request_timeout of its first byte.
                elapsed = time.perf_counter() - self.started
                self.wait_for(Deadline.HEAD, self.server.request_timeout - elapsed)
        else:
            # Inside a body the deadline is an idle limit, renewed by progress.
            self.wait_for(Deadline.BODY, self.server.request_timeout)
        self._watch(_EV_READ)

    def _discard_input(self) -> None:
        try:
            for _ in range(_READS_PER_TURN):
                if not self.sock.recv(_BIG_RECV, self.server.io_flags):
                    self.close()
                    return
        except self.server._would_block:
            return
        except OSError:
            self.close()

    # -- answering -----------------------------------------------------------------

    def _dispatch(self) -> None:
        reader = self.reader
        assert reader is not None
        server = self.server
        self.request = request = reader.request(self.client, server.address, server.scheme)
        self.reader = None          # the body now belongs to the request
        self._respond(run_handler(server.handler, request, debug=server.debug), request)

    def fail(self, error: HTTPError) -> None:
        """Answer a request that could not be read, then close without reading the rest."""
        reader = self.reader
        head = reader.head if reader is not None else None
        logger.info("%s %s: %d %s", self.client[0],
                    f"{head.method} {redact_target(head.target)}" if head else "request", error.status, error.message)
        if reader is not None:
            reader.discard()
        # The client may still be sending: the reply goes first, then a half-close and a short
        # drain, because closing with unread input makes the kernel reset the connection and
        # the client would never see the reply.
        self.linger = True
        self._respond(refusal(error), None, method=head.method if head else None)

    def _respond(self, response: Response, request: Request | None, method: str | None = None) -> None:
        reply = prepare_reply(request, response, debug=self.server.debug, method=method)
        self._send_reply(reply, response, request)

    def _send_reply(self, reply: Reply, response: Response, request: Request | None) -> None:
        server = self.server
        plain = server.ssl_context is None
        if reply.file is not None and plain:
            self.sock.setblocking(False)    # os.sendfile() takes no MSG_DONTWAIT (see kali.server)
        self.outgoing = Outgoing(reply, server._dates, sendfile=plain, request=request)
        self.code = reply.response.code
        # The handler's own response (even when a 500 replaced it): its shut_down is honoured.
        self.response = response
        self.move(WRITE)
        self.deadline = None
        self.send()

    def send(self) -> None:
        """Write as much as the socket takes; register for writability only if it would block."""
        outgoing = self.outgoing
        assert outgoing is not None
        server = self.server
        try:
            step = outgoing.send(self.sock, server.ssl_context is None, server.io_flags)
        except server._would_block:
            self._watch(_EV_WRITE | (_EV_READ if outgoing.stream is not None else 0))
            self.wait_for(Deadline.WRITE, server.write_timeout)
            return
        except OSError as exc:
            if not isinstance(exc, _DISCONNECTED) and exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                logger.debug("send failed: %s", exc)
            self._finish(complete=False)
            return
        if step is SENT:
            self._finish(complete=True)
        elif step is PAUSED:
            self.move(PAUSE)
            self._watch(_EV_READ)
            self.wait_for(Deadline.PAUSE, outgoing.pause)
        else:
            # The stream had its turn: the loop calls back when the socket is writable.
            self._watch(_EV_WRITE | _EV_READ)
            self.wait_for(Deadline.WRITE, server.write_timeout)

    def _finish(self, complete: bool) -> None:
        if self.linger and complete:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self.close()
                return
            self.move(LINGER)
            self._watch(_EV_READ)
            self.deadline = None
            self.wait_for(Deadline.LINGER, _LINGER_SECONDS)
            self._discard_input()
            return
        self.close()

    def close(self, sent: int | None = None) -> None:
        """Close the socket, the response's file or stream and the request's temporary files; log the request.

        `sent`: the bytes of the reply sent, when no Outgoing counted them (a request that
        waited for its first byte, then was answered on the straight line).
        """
        if self.state is CLOSED:
            return
        self.move(CLOSED)
        server = self.server
        server._conns.discard(self)
        if self.mask:
            server._poller.unregister(self.sock, closing=True)
            self.mask = 0
        try:
            self.sock.close()
        except OSError:
            pass
        outgoing = self.outgoing
        if outgoing is not None and (outgoing.file is not None or outgoing.stream is not None):
            outgoing.close()        # a reply cut short: its file or stream is still open
        if self.reader is not None:
            self.reader.discard()
        request = self.request
        response = self.response
        if request is not None:
            request.close()
            if sent is None:
                sent = outgoing.sent if outgoing is not None else 0
            server._access_log.note(request.method, request.target, self.code, sent, self.started)
        if self.queued is not None:
            # Stale deadline entries still point here: keep them from pinning the request.
            self.request = self.response = self.reader = self.outgoing = None
        if response is not None and response.shut_down:
            server.stop()


# -- the common case in one go ---------------------------------------------------------------
#
# These are functions of a Connection rather than its methods: the class is the general state
# machine, and this is the one straight line that skips it.


def answer_at_once(server: Server, sock: socket.SocketType, client: Any) -> None:
    """Serve a connection just accepted: in one straight line if its request is the common one.

    On loopback the whole request (a head without a body) has usually arrived by the time
    the connection is accepted, and the handler's page is small.  Then nothing waits: one
    recv, the handler, one send and one close answer it inside this call (`answer_whole`),
    without even a Connection.  If nothing has arrived yet, a Connection waits for its first
    byte as usual.
    """
    try:
        data = sock.recv(_RECV_SIZE, server.io_flags)
    except server._would_block:
        conn = Connection(server, sock, client)
        server._conns.add(conn)
        conn._wait_for_request()
        return
    except OSError:
        data = b""
    if not data:
        sock.close()        # gone before a request: nothing to answer, nothing to log
        return
    answer_whole(server, sock, client, data)


def answer_whole(server: Server, sock: socket.SocketType, client: Any, data: bytes,
                 conn: Connection | None = None) -> None:
    """Answer `data`, the first bytes read, in a straight line if they are the common request.

    The straight line: `data` is a whole request without a body, the handler's reply is an
    iolist that fits one send, and the socket takes it whole.  It answers, closes and notes
    the access line without a Connection (`conn` is None for a connection just accepted), a
    deadline, the selector, a Reply or an Outgoing -- this runs once per request, and every
    step it skips is time the client waits.  At the first thing that is not so (a partial
    head or a body, HEAD, a file or a stream, a reply too large for one send, a send the
    socket does not take whole, an error), a Connection (`conn`, or one made then) goes on
    along the general path from where the request is, with the same result.
    """
    started = time.perf_counter()
    if conn is not None:
        conn.started = started
    request = read_whole_request(data, client, server.address, server.scheme)
    if request is None:
        conn = _general(server, sock, client, conn, None, started)
        conn.read_request(data)
        return
    # run_handler shows a traceback only to a client on this machine.
    response = run_handler(server.handler, request, debug=server.debug)
    if request.method == "HEAD" or isinstance(response.content, (FileBody, Stream)):
        _general(server, sock, client, conn, request, started)._respond(response, request)
        return
    try:
        wire = wire_form(response)
    except Exception:
        conn = _general(server, sock, client, conn, request, started)
        conn._send_reply(replacement_reply(request, debug=server.debug), response, request)
        return
    code = response.code
    out = reply_in_one_buffer(code, server._dates, *wire)
    if out is None:
        _general(server, sock, client, conn, request, started)._send_reply(Reply(response, False, wire),
                                                                           response, request)
        return
    try:
        sent = sock.send(out, server.io_flags)
    except OSError:
        sent = 0                # `send` below tries again: it waits, or meets the error and closes
    if sent < len(out):
        conn = _general(server, sock, client, conn, request, started)
        conn.code = code
        conn.response = response
        conn.outgoing = Outgoing.rest_of(out, sent, request)
        conn.move(WRITE)
        conn.deadline = None
        conn.send()
        return
    if conn is not None:
        conn.request = request
        conn.code = code
        conn.response = response
        conn.close(sent)
        return
    # What Connection.close does for a connection that never waited: the request has no body,
    # so no temporary file to delete either.
    try:
        sock.close()
    except OSError:
        pass
    server._access_log.note(request.method, request.target, code, sent, started)
    if response.shut_down:
        server.stop()


def _general(server: Server, sock: socket.SocketType, client: Any, conn: Connection | None,
             request: Request | None, started: float) -> Connection:
    """The Connection that takes a request off the straight line (`conn` if there is one already)."""
    if conn is None:
        conn = Connection(server, sock, client)
        conn.started = started
        server._conns.add(conn)
    conn.request = request
    return conn

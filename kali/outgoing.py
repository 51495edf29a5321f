"""Response serialisation for the server: the head as bytes, then the body as the socket takes it.

`Outgoing` is what is left to send of one response: the head's bytes (the
status line, the header fields the exchange decided in a `kali.exchange.Reply`,
the Date and Server lines the server adds, `Connection: close`) and an iolist's
chunks, then a file's bytes (`os.sendfile` where it can), then a stream's
items.  `Outgoing.send` writes as much as a non-blocking socket takes, saying
what it waits for when it stops.  It knows nothing of selectors or deadlines:
the connection does.
"""

from __future__ import annotations

import errno
import os
import socket
import time

from ._version import __version__
from .exchange import Reply
from .http import redact_target, status_line
from .iolist import to_chunks
from .log import get_logger
from .request import Request
from .response import FileBody, Pause, Stream, http_date

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["DateLines", "Outgoing", "SENT", "YIELD", "PAUSED", "reply_in_one_buffer"]

logger = get_logger()

_SERVER_LINE = f"Server: kali/{__version__}\r\n"
_CLOSE = b"Connection: close\r\n\r\n"
_IOV_MAX = 1024                     # most buffers one sendmsg() call takes
_GATHER_BYTES = 32768               # a head and a few small chunks this size are joined into one send
_FILE_PIECE = 1 << 22               # most bytes one sendfile() call is asked for
_COPY_PIECE = 1 << 18               # a file that cannot be sendfile'd is copied through memory in these
_STREAM_TURN = 16                   # stream items sent before other connections get a turn
_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")
_HAS_SENDFILE = hasattr(os, "sendfile")

#: `Outgoing.send` results: everything is sent; the stream had its turn (wait until the
#: socket is writable again); the stream paused (for `Outgoing.pause` seconds).
SENT, YIELD, PAUSED = "sent", "yield", "paused"


class DateLines:
    """The Date and Server header lines, formatted at most once a second."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = b""

    def lines(self) -> bytes:
        """b'Date: ...\\r\\nServer: kali/x.y.z\\r\\n' for the current second."""
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.text = f"Date: {http_date(now)}\r\n{_SERVER_LINE}".encode("ascii")
        return self.text


def reply_in_one_buffer(code: int, dates: DateLines, lines: bytes, chunks: list[bytes],
                        length: int | None) -> bytes | None:
    """The whole reply (head and iolist body) as one buffer for one send, if it is small enough; else None.

    A head and a small page go out in one join and one send; a large body is sent from its own
    chunks rather than copied.
    """
    if chunks and (len(chunks) > 4 or (length or 0) > _GATHER_BYTES):
        return None
    return b"".join((status_line(code), dates.lines(), lines, _CLOSE, *chunks))


class Outgoing:
    """What is left to send of one response: bytes, then a file's bytes, then a stream's items."""

    __slots__ = ("out", "index", "offset", "file", "file_fd", "file_offset", "file_left", "stream",
                 "streamed_items", "sent", "pause", "request")

    def __init__(self, reply: Reply, dates: DateLines, *, sendfile: bool, request: Request | None) -> None:
        # The head of an HTTP/1.0 response that closes its connection, and a small page with
        # it: one join, one send.
        chunks = reply.chunks
        code = reply.response.code
        whole = reply_in_one_buffer(code, dates, reply.lines, chunks, reply.length)
        if whole is not None:
            out = [whole]
        else:
            out = [b"".join((status_line(code), dates.lines(), reply.lines, _CLOSE)), *chunks]
        #: Buffers to send, the next one's index and how much of it is already sent.
        self.out: list[bytes] = out
        self.index = 0
        self.offset = 0
        #: Bytes written to the socket so far (for the access log).
        self.sent = 0
        #: The request answered (named in the log if its stream fails).
        self.request = request
        # A file's and a stream's own state is set only for a reply that has one.
        self.file: IO[bytes] | None = reply.file
        if self.file is not None:
            content = reply.response.content
            assert isinstance(content, FileBody)
            self.file_fd = -1
            self.file_offset = content.offset
            self.file_left = content.length
            if sendfile and _HAS_SENDFILE:
                try:
                    self.file_fd = self.file.fileno()
                except (OSError, ValueError):
                    pass                # not a real file (e.g. BytesIO): copy through memory
        self.stream: Stream | None = reply.stream
        if self.stream is not None:
            self.streamed_items = 0
            #: How long the stream asked to wait, after `send` returned PAUSED.
            self.pause = 0.0

    @classmethod
    def rest_of(cls, data: bytes, sent: int, request: Request) -> "Outgoing":
        """What is left of a reply in one buffer, `data`, whose first `sent` bytes went out already."""
        self = cls.__new__(cls)
        self.out = [data]
        self.index = 0
        self.offset = self.sent = sent
        self.request = request
        self.file = self.stream = None
        return self

    def send(self, sock: socket.SocketType, gather: bool, flags: int = 0) -> str:
        """Write as much as `sock` takes: SENT, YIELD or PAUSED; raises OSError (would-block included).

        `gather`: several buffers may go in one sendmsg() call (not through TLS); `flags`: for
        every send() and sendmsg() call.
        """
        out = self.out
        if len(out) == 1 and not self.offset and self.file is None and self.stream is None:
            # The common reply, its head and a small page in one buffer: one send, usually all of it.
            n = sock.send(out[0], flags)
            self.sent += n
            if n == len(out[0]):
                self.out = []
                return SENT
            self.offset = n             # the rest goes the long way, below
        gather = gather and _HAS_SENDMSG
        while True:
            out = self.out
            i = self.index
            if i < len(out):
                if len(out) - i == 1 or not gather:
                    buf = out[i]
                    n = sock.send(memoryview(buf)[self.offset:] if self.offset else buf, flags)
                else:
                    bufs: list[Any] = out[i:i + _IOV_MAX]
                    if self.offset:
                        bufs[0] = memoryview(bufs[0])[self.offset:]
                    n = sock.sendmsg(bufs, (), flags)
                self.sent += n
                off = self.offset + n
                while i < len(out) and off >= len(out[i]):
                    off -= len(out[i])
                    i += 1
                self.index, self.offset = i, off
                if i < len(out):
                    continue
                self.out = []
                self.index = self.offset = 0
            if self.file is not None:
                if not self._send_file(sock):
                    continue
                self.file.close()
                self.file = None
            if self.stream is not None:
                step = self._pull_stream()
                if step is not None:
                    return step
                if self.stream is not None:
                    continue
            return SENT

    def _send_file(self, sock: socket.SocketType) -> bool:
        """Send the next piece of the file body; True when it is all sent."""
        f = self.file
        assert f is not None
        if self.file_left <= 0:
            return True
        count = min(self.file_left, _FILE_PIECE)
        n = -1
        if self.file_fd >= 0:
            try:
                n = os.sendfile(sock.fileno(), self.file_fd, self.file_offset, count)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                self.file_fd = -1     # this file or socket cannot sendfile: copy instead
        if n < 0:
            f.seek(self.file_offset)
            block = f.read(min(count, _COPY_PIECE))
            if not block:
                raise OSError(errno.EIO, "the file ended early")
            self.out = [block]
            self.index = self.offset = 0
            self.file_offset += len(block)
            self.file_left -= len(block)
            return False
        if n == 0:
            raise OSError(errno.EIO, "the file shrank while it was being sent")
        self.sent += n
        self.file_offset += n
        self.file_left -= n
        return self.file_left <= 0

    def _pull_stream(self) -> str | None:
        """Queue the stream's next item: None when there is data (or the stream ended), else YIELD or PAUSED."""
        stream = self.stream
        assert stream is not None
        if self.streamed_items >= _STREAM_TURN:
            self.streamed_items = 0
            return YIELD
        self.streamed_items += 1
        try:
            item = next(stream.iterator)
            # Encoding belongs inside the try: an item that is not an iolist (a dict, a lone
            # surrogate) is the stream's failure, and must not escape into the loop.
            chunks = to_chunks(item) if type(item) is not Pause else []
        except StopIteration:
            self.stream = None
            return None
        except Exception:
            request = self.request
            logger.exception("the streamed response of %s %s failed", request.method if request else "?",
                             redact_target(request.target) if request else "?")
            # The connection closes next, and closing it closes the stream (running its finally blocks).
            raise OSError(errno.EIO, "stream failed") from None
        if type(item) is Pause:
            self.streamed_items = 0
            self.pause = item.seconds
            return PAUSED
        self.out = chunks
        self.index = self.offset = 0
        return None

    def close(self) -> None:
        """Close the file and the stream (its generator's `finally` blocks run) if they are still open."""
        self.out = []
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.stream is not None:
            stream, self.stream = self.stream, None
            try:
                stream.close()
            except Exception:
                logger.exception("closing a streamed response failed")

"""`to_wsgi(handler)`: the same kali app served by any WSGI server (waitress, gunicorn, mod_wsgi...).

    from kali.wsgi import to_wsgi
    application = to_wsgi(app, allowed_hosts=["tools.example.org"])
    # then: waitress-serve --listen=0.0.0.0:8080 mymodule:application

For the day a personal tool becomes a shared service.  The handler gets the
same `Request` it gets under `serve_http` (the raw target, headers, a body
spooled to a temporary file above 1 MiB, cookies, forms, files), and its
`Response` is sent the same way: iolists as chunks with a Content-Length,
`FileBody` through `wsgi.file_wrapper` (or bounded reads), `Stream`s item by
item, HEAD without a body.

**Threads.** `serve_http` runs all application code on one thread; WSGI
servers call the app from several.  By default (`serialize=True`) the adapter
keeps kali's guarantee: the handler, the rendering of its iolist and each
item of a streamed body run under one lock, so a handler that shares one
SQLite connection (opened by `open_database`, which allows use from any
thread) or module-level state needs no change.  The cost is that requests
are handled one at a time, as under `serve_http`; the WSGI server still does
the network I/O in parallel.  With `serialize=False` handlers run in parallel
and must be thread-safe themselves: open a connection per request (or per
thread) instead of sharing one.  The SQLite guard works per request either way.

**Pauses.** A streamed body's `Pause(seconds)` sleeps in the worker thread
that serves that response (WSGI has no other way to wait), with the lock
released so other requests go on; each open stream holds one worker thread.

**Security.** Unless `secure=False`, the handler is wrapped by
`kali.security.secure` exactly as `serve_http` does it: requests must name the
server in `Host` (127.0.0.1, localhost and [::1] at the port the WSGI server
reports in SERVER_PORT, plus `allowed_hosts`), other sites cannot
POST/PUT/PATCH/DELETE (except to `allow_cross_site` paths), and every response
gets protective headers.  A shared service is reached by name, so it must list
that name in `allowed_hosts` or every request gets a 421.  Behind a reverse
proxy, have the WSGI server apply the proxy's X-Forwarded-* headers (so scheme
and port are the browser's), or let the proxy check Host and pass
`allowed_hosts=["*"]`.
`debug` (tracebacks on 500 pages) is off by default: behind a reverse proxy on
the same machine every visitor would look like a local client.

`Response.shut_down` is ignored: the WSGI server owns the process.

Everything but the I/O is the server's own code (`kali.exchange`): the adapter
is only another transport around the same exchange.
"""

from __future__ import annotations

import os
import time
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol
from urllib.parse import quote

from .errors import HTTPError
from .exchange import BODY_MEMORY_LIMIT, RequestBody, compose_handler, prepare_reply, refusal, shows_tracebacks
from .http import OWS, STATUS_PHRASES, Headers, split_absolute_target
from .iolist import to_chunks
from .request import Request
from .response import FileBody, Handler, Pause, Response, Stream, run_handler

if TYPE_CHECKING:
    import threading

__all__ = ["to_wsgi", "WSGIApp", "StartResponse", "WSGIEnvironment"]

#: The WSGI environ dictionary (PEP 3333).
WSGIEnvironment = dict[str, Any]

_WSGI_BLOCK = 1 << 16
# Characters a browser leaves as they are in a path (PATH_INFO arrives decoded and is re-encoded).
_PATH_SAFE = "/-._~!$&'()*+,;=:@"
# Longest single sleep while a stream pauses: between naps the adapter asks the server
# (where it can tell) whether the client has gone.
_NAP = 0.5


class StartResponse(Protocol):
    """The `start_response` callable a WSGI server passes to the app."""

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = ..., /) -> Any:
        """Begin the response with a status line ('200 OK') and header pairs."""


class WSGIApp:
    """A kali handler as a WSGI application; build it with `to_wsgi`."""

    def __init__(self, handler: Handler, *, secure: bool = True, allowed_hosts: Iterable[str] = (),
                 allow_cross_site: Iterable[str] = (), debug: bool = False, serialize: bool = True,
                 max_body_size: int | None = 4 << 30) -> None:
        #: The handler requests go to (behind the security wrapper unless secure=False).
        self.handler = compose_handler(handler, secure=secure, allowed_hosts=allowed_hosts,
                                       allow_cross_site=allow_cross_site, debug=debug, caller="to_wsgi()")
        self.__wrapped__ = self.handler
        #: Show tracebacks on 500 pages to clients on this machine.
        self.debug = debug
        #: Largest request body accepted (None: no limit); larger ones get a 413.
        self.max_body_size = max_body_size
        #: Held while application code runs (None when serialize=False); re-entrant, because
        #: closing a HEAD response's stream happens while the handler's turn is still held.
        import threading    # here: `import kali` need not load it
        self.lock: threading.RLock | None = threading.RLock() if serialize else None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request: build the Request, run the handler, hand the body to the server."""
        try:
            request = request_from_environ(environ, self.max_body_size)
        except HTTPError as exc:
            return self._send(environ, start_response, None, refusal(exc))
        lock = self.lock
        debug = shows_tracebacks(self.debug, request.client[0])
        if lock is None:
            response = run_handler(self.handler, request, debug=debug)
            return self._send(environ, start_response, request, response)
        with lock:
            response = run_handler(self.handler, request, debug=debug)
            # Rendering an iolist may run application code (generators): still under the lock.
            return self._send(environ, start_response, request, response)

    def _send(self, environ: WSGIEnvironment, start_response: StartResponse, request: Request | None,
              response: Response) -> Iterable[bytes]:
        # Called with the lock held (when there is one): closing a HEAD response's stream, or
        # encoding an iolist, may run application code.
        reply = prepare_reply(request, response, debug=self.debug, method=environ.get("REQUEST_METHOD"))
        code = reply.response.code
        start_response(f"{code} {STATUS_PHRASES.get(code, 'Unknown')}", reply.fields)
        if reply.stream is not None:
            return _StreamBody(reply.stream, request, self.lock, environ.get("waitress.client_disconnected"))
        if reply.file is not None:
            content = reply.response.content
            assert isinstance(content, FileBody)
            return _file_body(reply.file, content, request, environ.get("wsgi.file_wrapper"))
        return _Closing(reply.chunks, request)

    def __repr__(self) -> str:
        return f"<to_wsgi {self.handler!r}>"


def to_wsgi(handler: Handler, *, secure: bool = True, allowed_hosts: Iterable[str] = (),
            allow_cross_site: Iterable[str] = (), debug: bool = False, serialize: bool = True,
            max_body_size: int | None = 4 << 30) -> WSGIApp:
    """A WSGI application serving `handler` (see the module docstring for threads and security).

    - `secure`, `allowed_hosts`, `allow_cross_site`: the security wrapper, as in `serve_http`.
    - `debug`: tracebacks on 500 pages, to clients on this machine only (off by default).
    - `serialize`: run application code one request at a time, as under `serve_http`.
    - `max_body_size`: larger request bodies get a 413.
    """
    return WSGIApp(handler, secure=secure, allowed_hosts=allowed_hosts, allow_cross_site=allow_cross_site,
                   debug=debug, serialize=serialize, max_body_size=max_body_size)


# -- the request ------------------------------------------------------------------------

def request_from_environ(environ: WSGIEnvironment, max_body_size: int | None = 4 << 30) -> Request:
    """The kali Request for a WSGI environ (raises HTTPError for a target or body that cannot be read)."""
    headers = Headers()
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.add(key[5:].replace("_", "-").title(), value)
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        value = environ.get(key)
        if value:
            headers[name] = value
    script_name = environ.get("SCRIPT_NAME", "").rstrip("/")
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    authority = None
    if not target:
        target = quote((script_name + environ.get("PATH_INFO", "")).encode("latin-1"), safe=_PATH_SAFE) or "/"
        query = environ.get("QUERY_STRING", "")
        if query:
            target += "?" + query
    elif not target.startswith("/") and target != "*":
        # The parser's rule: an absolute-form target's authority replaces Host (RFC 9112 3.2.2).
        authority, target = split_absolute_target(target)
    request = Request(
        environ.get("REQUEST_METHOD", "GET").upper(), target,
        version=environ.get("SERVER_PROTOCOL", "HTTP/1.1"), headers=headers,
        body=_read_body(environ, max_body_size),
        client=(environ.get("REMOTE_ADDR") or "", _port(environ.get("REMOTE_PORT"))),
        scheme=environ.get("wsgi.url_scheme", "http"),
        server=(environ.get("SERVER_NAME") or "", _port(environ.get("SERVER_PORT"))))
    if authority is not None:
        request.authority = authority
    if script_name:
        # Mounted below a prefix by the WSGI server: routers see the path below it, and
        # request.app_url() builds links that include it.
        depth = script_name.count("/")
        segments = request.segments
        if len(segments) >= depth:
            request.mount = quote(script_name.encode("latin-1"), safe=_PATH_SAFE)
            request.rest_segments = segments[depth:]
    return request


def _port(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _read_body(environ: WSGIEnvironment, max_body_size: int | None) -> bytes | IO[bytes]:
    """The body from wsgi.input, kept as the server keeps it (in memory up to BODY_MEMORY_LIMIT, then spooled)."""
    stream = environ.get("wsgi.input")
    text = (environ.get("CONTENT_LENGTH") or "").strip(OWS)
    if text:
        if not (text.isascii() and text.isdigit()):      # str.isdigit() also takes '²' and '٣'
            raise HTTPError(400, "The Content-Length header is not a number.")
        length: int | None = int(text)
    elif environ.get("wsgi.input_terminated"):
        length = None             # a chunked body the server has de-chunked: read to the end
    else:
        length = 0
    if stream is None or length == 0:
        return b""
    if length is not None and max_body_size is not None and length > max_body_size:
        raise HTTPError(413, f"The request body is larger than {max_body_size} bytes.")
    body = RequestBody(length)
    try:
        left = length
        seen = 0
        while left is None or left > 0:
            # A body that fits in memory is asked for whole: most servers hand it over in one read.
            want = left if left is not None and left <= BODY_MEMORY_LIMIT else _WSGI_BLOCK
            block = stream.read(want if left is None else min(want, left))
            if not block:
                break
            seen += len(block)
            if max_body_size is not None and seen > max_body_size:
                raise HTTPError(413, f"The request body is larger than {max_body_size} bytes.")
            body.write(block)
            if left is not None:
                left -= len(block)
        if left:
            raise HTTPError(400, "The request body ended before its Content-Length.")
    except BaseException:
        body.discard()
        raise
    return body.take()


# -- the response -----------------------------------------------------------------------


class _Closing:
    """A body that is a list of chunks; closing it deletes the request's temporary files."""

    def __init__(self, chunks: list[bytes], request: Request | None) -> None:
        self._chunks = chunks
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def close(self) -> None:
        """Called by the WSGI server when the response is done (or abandoned)."""
        if self._request is not None:
            self._request.close()
            self._request = None


class _StreamBody:
    """A streamed body pulled item by item (under the lock), sleeping through Pauses without it."""

    def __init__(self, stream: Stream, request: Request | None, lock: threading.RLock | None,
                 client_gone: Callable[[], bool] | None) -> None:
        self._stream = stream
        self._request = request
        self._lock = lock
        self._client_gone = client_gone

    def __iter__(self) -> Iterator[bytes]:
        iterator = self._stream.iterator
        lock = self._lock
        while True:
            if lock is None:
                item = next(iterator, _EXHAUSTED)
            else:
                with lock:
                    item = next(iterator, _EXHAUSTED)
            if item is _EXHAUSTED:
                return
            if type(item) is Pause:
                if not self._sleep(item.seconds):
                    return
                continue
            if lock is None:
                chunks = to_chunks(item)
            else:
                with lock:
                    chunks = to_chunks(item)
            yield from chunks

    def _sleep(self, seconds: float) -> bool:
        """Wait; False if the client went away meanwhile (only some servers can tell)."""
        deadline = time.monotonic() + seconds
        while True:
            if self._client_gone is not None and self._client_gone():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, _NAP))

    def close(self) -> None:
        """Close the stream (its generator's `finally` runs, under the lock) and the request."""
        try:
            if self._lock is None:
                self._stream.close()
            else:
                with self._lock:
                    self._stream.close()
        finally:
            if self._request is not None:
                self._request.close()
                self._request = None


_EXHAUSTED = object()


class _FileForWrapper:
    """The body's file for `wsgi.file_wrapper`; closing it also closes the request."""

    def __init__(self, file: IO[bytes], request: Request | None) -> None:
        self._file = file
        self._request = request

    def read(self, size: int = -1) -> bytes:
        """Read from the file."""
        return self._file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move in the file."""
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        """The position in the file."""
        return self._file.tell()

    def fileno(self) -> int:
        """The file descriptor (servers that can use sendfile ask for it)."""
        return self._file.fileno()

    def close(self) -> None:
        """Close the file and the request."""
        try:
            self._file.close()
        finally:
            if self._request is not None:
                self._request.close()
                self._request = None


def _file_body(f: IO[bytes], content: FileBody, request: Request | None, file_wrapper: Any) -> Iterable[bytes]:
    try:
        f.seek(content.offset)
        to_end = content.offset + content.length >= os.fstat(f.fileno()).st_size
    except (OSError, ValueError, AttributeError):
        to_end = False            # not a real file (BytesIO): read it in bounded blocks
    if file_wrapper is not None and to_end:
        # file_wrapper sends from the current position to the end of the file (some servers
        # stop at Content-Length, not all), so it is used only for bodies that end there.
        wrapped: Iterable[bytes] = file_wrapper(_FileForWrapper(f, request), _WSGI_BLOCK)
        return wrapped
    return _FileBlocks(f, content.offset, content.length, request)


class _FileBlocks:
    """`length` bytes from `offset` of a file, in blocks."""

    def __init__(self, file: IO[bytes], offset: int, length: int, request: Request | None) -> None:
        self._file = file
        self._offset = offset
        self._length = length
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        f = self._file
        f.seek(self._offset)
        left = self._length
        while left > 0:
            block = f.read(min(_WSGI_BLOCK, left))
            if not block:
                raise OSError(f"the file ended {left} bytes early (it shrank while it was being sent)")
            left -= len(block)
            yield block

    def close(self) -> None:
        """Close the file and the request."""
        try:
            self._file.close()
        finally:
            if self._request is not None:
                self._request.close()
                self._request = None

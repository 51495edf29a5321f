"""One request/response exchange, shared by the three transports: the server, the test client and WSGI.

Each transport only moves bytes; what happens to a request and its response
is decided here, once, so all three do the same thing:

1. `compose_handler` builds the handler stack the app is served behind
   (the security wrapper, and later kali's own wrappers inside it);
2. `RequestReader` turns parser events into a head and a `RequestBody`
   (in memory up to `BODY_MEMORY_LIMIT`, spooled to a temporary file beyond),
   then into a `Request`; the WSGI adapter, which gets a de-chunked body
   from its server, fills a `RequestBody` directly;
3. the handler runs (`kali.response.run_handler`), with tracebacks on 500
   pages only where `shows_tracebacks` says so;
4. `prepare_reply` decides what goes on the wire: the header fields, an
   iolist's chunks, a file to send or a stream to pull (nothing for HEAD),
   or -- for a response that cannot be sent -- a logged 500 page instead;
   `refusal` is the page for a request that could not even be read.
"""

from __future__ import annotations


from .errors import HTTPError
from .http import END, NEED_DATA, ProtocolError, RequestHead, RequestParser, redact_target, whole_head_parts
from .log import get_logger
from .request import Request
from .response import FileBody, Handler, Response, Stream, field_pairs, internal_error, wire_form
from .security import DEFAULT_SECURITY_HEADERS, SecurityWrapper, is_local_client, secure as secure_wrapper

__all__ = [
    "BODY_MEMORY_LIMIT", "compose_handler", "shows_tracebacks", "RequestBody", "RequestReader", "read_whole_request",
    "Reply", "prepare_reply", "replacement_reply", "refusal",
]

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import IO, Iterable, Mapping
    from .reserved import Channel

logger = get_logger()

#: Request bodies up to this many bytes are kept in memory; larger ones are spooled to a
#: temporary file (deleted after the response).
BODY_MEMORY_LIMIT = 1 << 20


# -- the handler stack -------------------------------------------------------------------------

def compose_handler(app: Handler, *, secure: bool = True, allowed_hosts: Iterable[str] = (),
                    allow_cross_site: Iterable[str] = (), private_token: str | None = None,
                    debug: bool = True, caller: str = "serve_http()",
                    channels: Mapping[str, Channel] | None = None) -> Handler:
    """The handler the transports call for `app`: the one place the handler stack is composed.

    The layers, outermost first:

    - `kali.security.secure` (unless `secure` is False) with `allowed_hosts`,
      `allow_cross_site` and `private_token`; an app that wrapped itself in
      `secure()` keeps its own wrapper (a second one would refuse the hosts the
      first allows), and options given here as well are an error;
    - kali's own wrappers (`_with_kali_wrappers`), between the security wrapper
      and the app, so the Host check applies to them too; `channels` are the
      live channels under `/_kali/` that `serve_http` turns on (`events`, `ping`);
    - the app.

    `caller` names the function the options were given to, for the error messages.
    """
    if not callable(app):
        raise TypeError(f"{caller} needs a handler (a callable taking a Request), not {app!r}")
    allowed_hosts = tuple(allowed_hosts)
    allow_cross_site = tuple(allow_cross_site)
    given = [name for name, value in (("allowed_hosts=", allowed_hosts), ("allow_cross_site=", allow_cross_site),
                                      ("private=", private_token)) if value]
    if not secure:
        if given:
            raise ValueError(f"{' and '.join(given)} are checks of the security wrapper: they need "
                             f"secure=True in {caller}")
        return _with_kali_wrappers(app, debug=debug, channels=channels)
    if isinstance(app, SecurityWrapper):
        if given:
            raise ValueError(f"the handler is already wrapped by kali.security.secure(): pass "
                             f"{' and '.join(given)} either to secure() or to {caller}, not both")
        # The app secured itself: kali's own wrappers go inside its wrapper, around app.handler,
        # in a new wrapper with the app's own settings (the app's object is left as it was).
        inner = _with_kali_wrappers(app.handler, debug=app.debug, channels=channels)
        if inner is app.handler:
            return app
        return SecurityWrapper(inner, allowed_hosts=app.allowed_hosts, allow_cross_site=app.allow_cross_site,
                               private_token=app.private_token, headers=app.headers, debug=app.debug)
    return secure_wrapper(_with_kali_wrappers(app, debug=debug, channels=channels), allowed_hosts=allowed_hosts,
                          allow_cross_site=allow_cross_site, private_token=private_token, debug=debug)


def _with_kali_wrappers(app: Handler, *, debug: bool = True,
                        channels: Mapping[str, Channel] | None = None) -> Handler:
    """`app` inside kali's own wrappers: the layer between the security wrapper and the app.

    `kali.reserved` answers the reserved prefix `/_kali/` (kali's assets, its
    live channels) and a `/favicon.ico` the app lacks, and clears a flash
    message once a page has shown it; here, the server, the test client and the
    WSGI adapter all have it, and the Host check runs before it.
    """
    from .reserved import ReservedPaths
    if isinstance(app, ReservedPaths):
        if not channels:
            return app
        # The app wrapped itself: a new wrapper with its channels and these (the app's object stays as it was).
        return ReservedPaths(app.handler, channels={**app.channels, **channels}, debug=app.debug)
    return ReservedPaths(app, channels=channels, debug=debug)


def shows_tracebacks(debug: bool, client_address: str) -> bool:
    """Whether a 500 page for this client may carry the traceback: in debug mode, to this machine only."""
    # A traceback names files and code: never for a browser on another machine.
    return debug and is_local_client(client_address)


# -- the request -------------------------------------------------------------------------------

class RequestBody:
    """A request body as it arrives: in memory up to `BODY_MEMORY_LIMIT`, spooled to a temporary file beyond."""

    __slots__ = ("_memory", "_file")

    def __init__(self, declared_length: int | None) -> None:
        self._memory: bytearray | None = None
        self._file: IO[bytes] | None = None
        if declared_length is not None and declared_length <= BODY_MEMORY_LIMIT:
            self._memory = bytearray()
        else:
            # Chunked (length unknown) or large: up to the limit in memory, then on disk.
            self._file = self._spool()

    @staticmethod
    def _spool() -> IO[bytes]:
        import tempfile     # only for a large or chunked body: not every app receives one
        return tempfile.SpooledTemporaryFile(max_size=BODY_MEMORY_LIMIT)

    def write(self, data: bytes) -> None:
        """Add received bytes; a full disk is a 507 for this request (never an error of the loop)."""
        try:
            if self._memory is not None:
                self._memory += data
            else:
                if self._file is None:
                    self._file = self._spool()
                self._file.write(data)
        except OSError as exc:
            logger.error("could not store a request body: %s", exc)
            raise ProtocolError(507, "The server has no room to store this request's body.") from None

    def take(self) -> bytes | IO[bytes]:
        """The whole body, bytes or a file at its start; the Request it goes to closes it."""
        memory, file = self._memory, self._file
        self._memory = self._file = None
        if memory is not None:
            return bytes(memory)
        if file is None:
            return b""
        file.seek(0)
        return file

    def discard(self) -> None:
        """Drop the body (and its temporary file) when it will not reach a Request."""
        file = self._file
        self._memory = self._file = None
        if file is not None:
            file.close()


class RequestReader:
    """One request being read: bytes go to the sans-IO parser, whose events fill a head and a body."""

    __slots__ = ("parser", "head", "body", "_continue")

    def __init__(self, max_body_size: int | None = None) -> None:
        self.parser = RequestParser(max_body_size=max_body_size)
        #: The request line and header fields, once they are in.
        self.head: RequestHead | None = None
        self.body: RequestBody | None = None
        self._continue = False

    def feed(self, data: bytes) -> bool:
        """Take received bytes; True once the request is complete.  Raises ProtocolError for a bad one."""
        parser = self.parser
        parser.feed(data)
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                return False
            if event is END:
                return True
            if type(event) is bytes:
                body = self.body
                if body is None:
                    self.body = body = RequestBody(None)
                body.write(event)
            else:
                assert isinstance(event, RequestHead)
                self.head = event
                if event.has_body:
                    self.body = RequestBody(event.content_length)
                # A client that sent its body along has not waited for the go-ahead.
                self._continue = event.expect_continue and not parser.buffered

    def wants_continue(self) -> bool:
        """True once, after a head whose client waits for `100 Continue` before sending its body."""
        wanted = self._continue
        self._continue = False
        return wanted

    def request(self, client: tuple[str, int], server: tuple[str, int], scheme: str) -> Request:
        """The complete request as a handler sees it (its body now belongs to the Request)."""
        head = self.head
        assert head is not None, "request() before the head was read"
        body = self.body
        self.body = None
        return Request.from_head(head, b"" if body is None else body.take(), client, server, scheme)

    def discard(self) -> None:
        """Drop what was read (a request refused or abandoned before it reached the handler)."""
        if self.body is not None:
            self.body.discard()
            self.body = None


def read_whole_request(data: bytes, client: tuple[str, int], server: tuple[str, int], scheme: str) -> Request | None:
    """The request, if `data` is exactly one well-formed request without a body; else None (read it with
    a RequestReader: the parser answers every other case, from the same checks, in the same way)."""
    parts = whole_head_parts(data)
    if parts is None:
        return None
    return Request._from_parts(*parts, b"", client, server, scheme)


# -- the response ------------------------------------------------------------------------------

def refusal(error: HTTPError) -> Response:
    """The page for a request that could not be read (or whose body could not be): its status and message.

    It never passes through the app's wrappers, so it carries the protective headers itself.
    """
    response = Response.generic(error.status, error.message, headers=error.headers)
    for name, value in DEFAULT_SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    return response


class Reply:
    """A response ready for a transport: its header lines and where the body comes from.

    Built by `prepare_reply`; building one checks the response (the header fields,
    the iolist's encoding) and opens its file, so a Reply that exists can be sent.
    For HEAD there is no body: a stream it will never pull is closed, a file it will
    never read too.
    """

    __slots__ = ("response", "lines", "length", "chunks", "file", "stream")

    def __init__(self, response: Response, is_head: bool,
                 wire: tuple[bytes, list[bytes], int | None] | None = None) -> None:
        # `wire`: the response's wire_form, when the caller has made it already (it may have
        # consumed a generator in the iolist, so it cannot be made twice).
        lines, chunks, length = wire_form(response) if wire is None else wire
        content = response.content
        file: IO[bytes] | None = None
        stream: Stream | None = None
        if chunks:
            if is_head:
                chunks = []
        elif isinstance(content, FileBody):
            if content.length and not is_head:
                file = content.open()
                if file.closed:
                    # Reading it later would fail in the middle of the reply; say what happened instead.
                    raise ValueError("the FileBody's file was closed before it could be sent "
                                     "(returned from inside a 'with' block?)")
            elif content.file is not None:
                content.file.close()        # HEAD or an empty body: the handler's open file is never read
        elif isinstance(content, Stream):
            if is_head:
                content.close()
            else:
                stream = content
        #: The response sent (the handler's, or the 500 page that replaced it).
        self.response = response
        #: The header fields as the head's lines ('Name: value\r\n' each), Content-Length included.
        self.lines = lines
        #: The body's length (None for a stream), even for HEAD.
        self.length = length
        #: An iolist body's encoded chunks (empty for HEAD, files and streams).
        self.chunks = chunks
        #: A file body, open and still to be read from `response.content.offset` (None for HEAD).
        self.file = file
        #: A streamed body to pull item by item (None for HEAD).
        self.stream = stream

    @property
    def fields(self) -> list[tuple[str, str]]:
        """The header fields to send as (name, value) pairs, Content-Length included where the length is known."""
        return field_pairs(self.response, self.length)


def prepare_reply(request: Request | None, response: Response, *, debug: bool,
                  method: str | None = None) -> Reply:
    """What to send for `response` to `request`; one that cannot be sent becomes a logged 500 page.

    A header value with a line break or non-Latin-1 text, an iolist that does not
    encode, a file body whose file is already closed: each is the handler's
    mistake, answered with a 500 (with a traceback where `shows_tracebacks`
    allows) rather than a broken reply.  Without a Request (a `refusal`),
    `method` is the request's method if it is known (HEAD gets no body).
    """
    is_head = (request.method if request is not None else method) == "HEAD"
    try:
        return Reply(response, is_head)
    except Exception:
        if request is None:
            raise
        return replacement_reply(request, debug=debug)


def replacement_reply(request: Request, *, debug: bool) -> Reply:
    """The logged 500 page that replaces a response to `request` that cannot be sent (call it
    while handling the exception that said so: the log record carries its traceback)."""
    logger.exception("could not send the response of %s %s", request.method, redact_target(request.target))
    fallback = internal_error(request, debug=shows_tracebacks(debug, request.client[0]))
    for name, value in DEFAULT_SECURITY_HEADERS:
        fallback.headers.setdefault(name, value)
    return Reply(fallback, request.method == "HEAD")

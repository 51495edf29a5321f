"""`Response` and its constructors; turning whatever a handler returns into a response."""

from __future__ import annotations

import html
import mimetypes
import os
import sys

from .errors import HTTPError
from .http import STATUS_PHRASES, Headers, redact_target
from .iolist import IOList, to_chunks
from .log import get_logger
from .request import Request

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeAlias, Union

__all__ = [
    "Response", "ErrorResponse", "DefaultFields", "FileBody", "Stream", "Pause", "HeadersLike", "Handler",
    "to_response", "run_handler", "error_page", "set_error_page", "json_error", "wants_json", "http_date",
    "wire_fields",
]

logger = get_logger()

HeadersLike: TypeAlias = "Union[Headers, Mapping[str, str], Iterable[tuple[str, str]], None]"
#: A handler is any callable taking a Request and returning a Response or content (see `to_response`).
Handler: TypeAlias = "Callable[[Request], Any]"

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class FileBody:
    """A response body read from a file by the server (with `sendfile` where it can)."""

    __slots__ = ("path", "file", "offset", "length")

    def __init__(self, path: str | os.PathLike[str] | None = None, *, file: IO[bytes] | None = None,
                 offset: int = 0, length: int | None = None) -> None:
        if (path is None) == (file is None):
            raise ValueError("FileBody needs exactly one of path= and file=")
        self.path = path
        self.file = file
        self.offset = offset
        if length is None:
            size = os.stat(path).st_size if path is not None else os.fstat(file.fileno()).st_size  # type: ignore[union-attr]
            length = max(0, size - offset)
        #: How many bytes from `offset` are sent.
        self.length = length

    def open(self) -> IO[bytes]:
        """The file, opened for reading (the server closes it when done)."""
        if self.file is not None:
            return self.file
        return open(self.path, "rb")  # type: ignore[arg-type]


class Pause:
    """Yielded by a streamed body: 'nothing to send yet, ask again in `seconds`'."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ValueError(f"a pause must be zero or more seconds, not {seconds!r}")
        self.seconds = float(seconds)

    def __repr__(self) -> str:
        return f"Pause({self.seconds})"


class Stream:
    """A response body produced piece by piece; the server pulls the next piece when the socket can take it."""

    __slots__ = ("iterator",)

    def __init__(self, iterable: Iterable[Any]) -> None:
        self.iterator: Iterator[Any] = iter(iterable)

    def close(self) -> None:
        """Tell a generator it will not be pulled again (runs its `finally` blocks)."""
        close = getattr(self.iterator, "close", None)
        if close is not None:
            close()


class DefaultFields:
    """Header fields a wrapper adds to every response that does not set them, checked and encoded once.

    A field the response sets itself keeps the response's value; one it sets to ''
    is left out.  A field given here with an empty value is never added.
    """

    __slots__ = ("pairs_given", "pairs", "lines", "_after")

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        #: The pairs as given.
        self.pairs_given = tuple((str(name), str(value)) for name, value in pairs)
        kept: list[tuple[str, str]] = []
        seen: set[str] = set()
        for name, value in self.pairs_given:
            key = name.lower()
            if key in seen or not value:
                continue        # as with setdefault: the first value of a name counts; '' adds nothing
            seen.add(key)
            kept.append((name, value))
        #: The (name, value) pairs to add, in order.
        self.pairs: tuple[tuple[str, str], ...] = tuple(kept)
        #: The same as header lines ('Name: value\r\n'), or None if one cannot go on the wire
        #: as it is or names Content-Type (such fields are added to the response's Headers instead,
        #: where the usual check refuses them).
        self.lines: bytes | None = None
        self._after: dict[str | None, bytes] = {}
        if any(name.lower() == "content-type" for name, _ in self.pairs_given):
            return      # it meets the response's own Content-Type: the Headers rules decide
        try:
            for name, value in kept:
                _check_field_value(name, value)
                if not _is_token(name):
                    raise ValueError(name)
        except ValueError:
            return
        self.lines = "".join(f"{name}: {value}\r\n" for name, value in kept).encode("latin-1")

    def after(self, content_type: str | None) -> bytes:
        """The Content-Type line (none for None), then these lines: joined once per type (ValueError
        for a type that cannot go on the wire)."""
        lines = self._after.get(content_type)
        if lines is None:
            assert self.lines is not None
            lines = self.lines if content_type is None else _content_type_line(content_type) + self.lines
            if len(self._after) < 16:
                self._after[content_type] = lines
        return lines


class Response:
    """Status, headers and a body: an iolist, a `FileBody` or a `Stream`."""

    # Most responses carry no header field but Content-Type (and the defaults of a wrapper such
    # as kali.security's): they are kept as `_content_type` and `_defaults`, and the Headers
    # object is made only if someone looks at `headers`.
    __slots__ = ("code", "_headers", "_content_type", "_defaults", "content", "shut_down", "page_script")

    def __init__(self, content: IOList | FileBody | Stream = b"", *, code: int = 200,
                 headers: HeadersLike = None, shut_down: bool = False,
                 content_type: str | None = None) -> None:
        if type(code) is not int or not 100 <= code <= 599:
            raise ValueError(f"{code!r} is not an HTTP status code (100-599)")
        self.code = code
        self._defaults: DefaultFields | None = None
        if headers is None:
            self._headers: Headers | None = None
            if content_type is None and code != 204 and code != 304 and code >= 200:
                content_type = HTML
            self._content_type = content_type
        else:
            self._headers = headers if isinstance(headers, Headers) else Headers(headers)  # type: ignore[arg-type]
            self._content_type = None
            if content_type is not None:
                self._headers["Content-Type"] = content_type
            elif code != 204 and code != 304 and code >= 200 and "content-type" not in self._headers:
                self._headers.add("Content-Type", HTML)
        self.content = content
        #: After this response is sent, the server stops.
        self.shut_down = shut_down
        #: An HTML page gets kali's page script while serve_http's event channel is on
        #: (quitting when the last page closes); False leaves this page without it.
        self.page_script = True

    @property
    def headers(self) -> Headers:
        """The header fields (Content-Length and the server's own fields are added when it is sent)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers()
            if self._content_type is not None:
                headers.add("Content-Type", self._content_type)
                self._content_type = None
            defaults = self._defaults
            if defaults is not None:
                self._defaults = None
                for name, value in defaults.pairs:
                    headers.add(name, value)
        return headers

    @headers.setter
    def headers(self, value: HeadersLike) -> None:
        self._headers = value if isinstance(value, Headers) else Headers(value)  # type: ignore[arg-type]
        self._content_type = None
        self._defaults = None

    @property
    def content_type(self) -> str | None:
        """The Content-Type field's value, or None: read without making the Headers object."""
        headers = self._headers
        return self._content_type if headers is None else headers.get("content-type")

    def add_defaults(self, defaults: DefaultFields) -> None:
        """Add each of `defaults` unless the response sets that field (to '' to leave it out)."""
        if self._headers is None and self._defaults is None and defaults.lines is not None:
            self._defaults = defaults       # written with the head, already encoded
            return
        headers = self.headers
        for name, value in defaults.pairs_given:
            if headers.setdefault(name, value) == "":
                del headers[name]        # the handler set it empty: it wants this header left out

    @property
    def status(self) -> int:
        """The status code (the same as `code`)."""
        return self.code

    @classmethod
    def redirect(cls, location: str, code: int = 303, *, headers: HeadersLike = None) -> "Response":
        """Send the browser elsewhere (303 by default: after a POST, GET the new page)."""
        if not 300 <= code <= 399:
            raise ValueError(f"a redirect needs a 3xx status, not {code}")
        response = cls(["<!DOCTYPE html>\n<title>Redirect</title>\n<p>Go to <a href=\"",
                        html.escape(location), "\">", html.escape(location), "</a>.</p>\n"],
                       code=code, headers=headers)
        response.headers["Location"] = location
        return response

    @classmethod
    def plain_text(cls, text: IOList, code: int = 200, *, headers: HeadersLike = None) -> "Response":
        """A text/plain response in UTF-8."""
        return cls(text, code=code, headers=headers, content_type=TEXT)

    @classmethod
    def json(cls, value: Any, code: int = 200, *, headers: HeadersLike = None) -> "Response":
        """`value` encoded as JSON (UTF-8, application/json)."""
        import json as _json        # on first use: an app that never sends JSON never loads it
        # NaN and Infinity are not JSON (JSON.parse refuses them): fail here, where the value is known.
        body = _json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default,
                           allow_nan=False)
        return cls(body, code=code, headers=headers, content_type="application/json")

    @classmethod
    def file(cls, path: str | os.PathLike[str], *, content_type: str | None = None,
             download_name: str | None = None, headers: HeadersLike = None) -> "Response":
        """A file from disk, sent by the kernel; 404 if it does not exist."""
        try:
            body = FileBody(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise HTTPError(404, "The file does not exist.") from None
        if content_type is None:
            content_type = guess_type(os.fspath(path))
        response = cls(body, headers=headers, content_type=content_type)
        if download_name is not None:
            response.headers["Content-Disposition"] = content_disposition(download_name)
        return response

    @classmethod
    def stream(cls, iterable: Iterable[Any], *, content_type: str = TEXT, code: int = 200,
               headers: HeadersLike = None) -> "Response":
        """A body sent as the iterable yields it (yield `Pause(s)` to wait without blocking)."""
        return cls(Stream(iterable), code=code, headers=headers, content_type=content_type)

    @classmethod
    def events(cls, iterable: Iterable[Any], *, headers: HeadersLike = None) -> "Response":
        """Server-sent events: yield str (data), dicts (event/data/id/retry) or `Pause`s."""
        response = cls(Stream(_sse_encode(iterable)), headers=headers, content_type="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        return response

    @classmethod
    def csv(cls, rows: Iterable[Any], *, filename: str, header: Sequence[str] | None = None,
            bom: bool = False, headers: HeadersLike = None) -> "Response":
        """A CSV download streamed row by row from any iterable of sequences, dicts or sqlite3.Row (a cursor too).

        UTF-8; `bom=True` starts with a byte-order mark so Excel reads it as UTF-8.
        `header=None` takes the names from the cursor or the first dict/Row; see
        `kali.csvio.csv_chunks`. Memory stays flat: one chunk is held at a time.
        """
        from .csvio import csv_chunks
        response = cls(Stream(csv_chunks(rows, header=header, bom=bom)), headers=headers,
                       content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = content_disposition(filename)
        return response

    @classmethod
    def download(cls, content: IOList | os.PathLike[str] | IO[bytes], filename: str, *,
                 content_type: str | None = None, headers: HeadersLike = None) -> "Response":
        """Content (bytes, text, an iolist), a file on disk (a Path) or an open binary file, saved by the browser as `filename`.

        The type is guessed from `filename` unless `content_type` is given. A plain
        `str` is content, never a path: pass a `pathlib.Path` for a file.
        """
        if content_type is None:
            content_type = guess_type(filename)
        if isinstance(content, os.PathLike):
            return cls.file(content, content_type=content_type, download_name=filename, headers=headers)
        body: IOList | FileBody | Stream
        if hasattr(content, "read"):
            file: IO[bytes] = content       # type: ignore[assignment]  # it has read()
            try:
                file.fileno()
                body = FileBody(file=file)          # a real file: the server can sendfile() it
            except (OSError, ValueError):
                body = Stream(_read_blocks(file))
        else:
            body = content
        response = cls(body, headers=headers, content_type=content_type)
        response.headers["Content-Disposition"] = content_disposition(filename)
        return response

    @classmethod
    def generic(cls, code: int, message: str | None = None, *, headers: HeadersLike = None,
                detail: str | None = None) -> "ErrorResponse":
        """A small HTML page for a status code, e.g. 404 with an explanation.

        It is an `ErrorResponse`: it remembers the error, so the app's layout
        (`kali.error_pages`) can dress it, and a client asking for JSON gets
        `{"error": {...}}` instead (see `json_error`).
        """
        response = ErrorResponse(_error_page(code, message, detail), code=code, headers=headers)
        response.error = HTTPError(code, message or "", detail=detail)
        return response

    def set_cookie(self, name: str, value: str, *, max_age: int | None = None, path: str = "/",
                   http_only: bool = True, same_site: str | None = "Lax", secure: bool = False) -> None:
        """Add a Set-Cookie header (HttpOnly and SameSite=Lax unless told otherwise)."""
        for ch in name:
            if ch in '()<>@,;:\\"/[]?={} \t' or not 32 < ord(ch) < 127:
                raise ValueError(f"cookie name {name!r} contains {ch!r}")
        for ch in value:
            if ch in '",;\\ ' or not 32 < ord(ch) < 127:
                raise ValueError(f"cookie {name!r}: value contains {ch!r}; encode it first")
        parts = [f"{name}={value}", f"Path={path}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if http_only:
            parts.append("HttpOnly")
        if same_site:
            parts.append(f"SameSite={same_site}")
        if secure:
            parts.append("Secure")
        self.headers.add("Set-Cookie", "; ".join(parts))

    def delete_cookie(self, name: str, *, path: str = "/") -> None:
        """Tell the browser to forget a cookie."""
        self.set_cookie(name, "", max_age=0, path=path)

    def __repr__(self) -> str:
        return f"<Response {self.code} {type(self.content).__name__}>"


class ErrorResponse(Response):
    """An error page made by kali (`Response.generic`, an `HTTPError` raised by a handler).

    It keeps the error it reports in `error` (an `HTTPError`: status, message,
    detail), so a wrapper can show it in the app's own layout, or as JSON, instead
    of the default page.  A page in the app's layout is a plain `Response` again.
    """

    __slots__ = ("error",)
    error: HTTPError


def _json_default(value: Any) -> Any:
    # Dates and decimals are common in SQLite-backed apps; ISO text and numbers are what JS expects.
    import datetime
    import decimal
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "keys"):
        return {k: value[k] for k in value.keys()}     # sqlite3.Row
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _read_blocks(file: IO[bytes]) -> Iterator[bytes]:
    """A file-like object without a file descriptor (BytesIO, a zip member), read in blocks as it is sent."""
    try:
        while True:
            block = file.read(1 << 16)
            if not block:
                return
            yield block
    finally:
        file.close()


def _sse_encode(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, Pause):
            yield item
            continue
        if isinstance(item, dict):
            lines = []
            for key in ("event", "id", "retry"):
                if item.get(key) is not None:
                    lines.append(f"{key}: {item[key]}\n")
            data = item.get("data", "")
            if not isinstance(data, str):
                import json as _json
                data = _json.dumps(data, default=_json_default)
        else:
            lines = []
            data = str(item)
        lines.extend(f"data: {line}\n" for line in data.splitlines() or [""])
        lines.append("\n")
        yield "".join(lines)


def guess_type(path: str) -> str:
    """A Content-Type for a file name (UTF-8 for text types)."""
    ctype, encoding = mimetypes.guess_type(path)
    if ctype is None or encoding is not None:
        return "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json",
                                              "image/svg+xml", "application/xml"):
        ctype += "; charset=utf-8"
    return ctype


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition value that survives any filename (RFC 6266 / 8187)."""
    from urllib.parse import quote
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += "; filename*=UTF-8''" + quote(filename, safe="")
    return value


# -- error pages -----------------------------------------------------------------

ErrorPage: TypeAlias = "Callable[[int, str, Union[str, None]], IOList]"


def error_page(code: int, message: str, detail: str | None = None) -> IOList:
    """The default error page: the status, a plain explanation, an optional preformatted detail, a way home.

    In kali's look (`kali.pages`): it links the shipped stylesheet and icon and has a
    bar with a link to the home page.
    """
    from .pages import kali_page      # on the first error page, not at `import kali`
    title = f"{code} {STATUS_PHRASES.get(code, 'Error')}"
    parts: list[Any] = ["<h1>", title, "</h1>\n"]
    if message:
        parts += ['<p class="notice error">', html.escape(message), "</p>\n"]
    if detail:
        parts += ["<pre>", html.escape(detail), "</pre>\n"]
    parts.append('<p><a href="/">Back to the home page</a></p>\n')
    return kali_page(title, parts, page_class="kali-page kali-error")


_error_page_renderer: ErrorPage = error_page


def set_error_page(renderer: ErrorPage | None) -> None:
    """Brand every error page: `renderer(code, message, detail)` returns an iolist (None restores the default)."""
    global _error_page_renderer
    _error_page_renderer = renderer or error_page


def _error_page(code: int, message: str | None, detail: str | None) -> IOList:
    if message is None:
        message = ""
    renderer = _error_page_renderer
    if renderer is error_page:
        return error_page(code, message, detail)
    try:
        # Encoded here, not by the server: a branded page is often a lazy iolist (a template,
        # a generator), and one that fails while being sent would take the error it reports
        # down with it -- or, for the server's own 4xx pages, the whole loop.
        return to_chunks(renderer(code, message, detail))
    except Exception:
        # A broken custom error page must not hide the original error.
        logger.exception("the custom error page failed; using the default")
        return error_page(code, message, detail)


# -- handler results -----------------------------------------------------------------

def wire_form(response: Response) -> tuple[bytes, list[bytes], int | None]:
    """(the header lines of the head, an iolist body's encoded chunks, the body's length) of `response`.

    The lines are `field_pairs` as 'Name: value\\r\\n' each, in Latin-1; a response whose
    fields were never looked at (Content-Type and a wrapper's `DefaultFields` only) is
    written from lines encoded once, without a Headers object.  The length is None for a
    stream; a file body has no chunks.  ValueError as in `field_pairs`.
    """
    content = response.content
    kind = type(content)
    chunks: list[bytes]
    length: int | None
    if kind is str:
        chunks = [content.encode("utf-8")] if content else []     # type: ignore[union-attr]
        length = len(chunks[0]) if chunks else 0
    elif isinstance(content, FileBody):
        chunks, length = [], content.length
    elif isinstance(content, Stream):
        chunks, length = [], None
    else:
        chunks = to_chunks(content)
        length = len(chunks[0]) if len(chunks) == 1 else sum(map(len, chunks))
    if response._headers is not None:
        lines = "".join([f"{name}: {value}\r\n" for name, value in field_pairs(response, length)])
        return lines.encode("latin-1"), chunks, length
    content_type = response._content_type
    defaults = response._defaults
    if defaults is not None:
        head = defaults.after(content_type)
    else:
        head = b"" if content_type is None else _content_type_line(content_type)
    code = response.code
    if length is not None and code >= 200 and code != 204 and code != 304:
        head += b"Content-Length: %d\r\n" % length
    return head, chunks, length


def wire_fields(response: Response) -> tuple[list[tuple[str, str]], list[bytes]]:
    """The header fields a server sends for `response` and an iolist body's encoded chunks.

    Content-Length is the real length of an iolist or file body (any value the app
    set is replaced) and absent for streams, 1xx, 204 and 304. A value that would
    split the head (CR, LF), holds a NUL (RFC 9110 5.5) or cannot go on the wire as
    Latin-1 raises ValueError: this is the one check of response headers, so the
    server, the test client and the WSGI adapter all refuse the same responses.
    """
    _, chunks, length = wire_form(response)
    return field_pairs(response, length), chunks


def field_pairs(response: Response, length: int | None) -> list[tuple[str, str]]:
    """The checked header fields of `response` with Content-Length: `length` (see `wire_fields`)."""
    fields: list[tuple[str, str]] = []
    for name, value in response.headers._items:
        if not (value.isascii() and value.isprintable()):
            _check_field_value(name, value)     # a tab, Latin-1 text, or a value to refuse
        if length is not None and name.lower() == "content-length":
            continue
        fields.append((name, value))
    code = response.code
    if length is not None and code >= 200 and code != 204 and code != 304:
        fields.append(("Content-Length", str(length)))
    return fields


_content_type_lines: dict[str, bytes] = {}


def _content_type_line(value: str) -> bytes:
    """'Content-Type: value\\r\\n', checked like any field (ValueError) and remembered for a few values."""
    line = _content_type_lines.get(value)
    if line is None:
        if not (value.isascii() and value.isprintable()):
            _check_field_value("Content-Type", value)
        line = f"Content-Type: {value}\r\n".encode("latin-1")
        if len(_content_type_lines) < 64:
            _content_type_lines[value] = line
    return line


def _is_token(name: str) -> bool:
    return bool(name) and name.isascii() and all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name)


def _check_field_value(name: str, value: str) -> None:
    """Refuse a header value that would split the head, holds a NUL or is not Latin-1 (see wire_fields)."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"response header {name!r} contains a line break or NUL: {value!r}")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"response header {name!r} is not Latin-1 text: {value!r} "
                         f"(encode it, e.g. RFC 8187 for file names)") from None


def to_response(result: Any) -> Response:
    """Turn what a handler returned into a Response (see the handler rules in the README)."""
    kind = type(result)
    if kind is str or kind is list:
        return Response(result)
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(code=204)
    if isinstance(result, dict):
        return Response.json(result)
    if isinstance(result, tuple) and len(result) in (2, 3) and type(result[1]) is int:
        content, code = result[0], result[1]
        headers = result[2] if len(result) == 3 else None
        if isinstance(content, dict):
            return Response.json(content, code, headers=headers)
        if isinstance(content, Response):
            raise TypeError("a handler returned (Response, code): return the Response alone")
        return Response(content, code=code, headers=headers)
    return Response(result)


def run_handler(handler: Handler, request: Request, *, debug: bool = True) -> Response:
    """Call `handler`, turning HTTPError into its page and any other exception into a 500.

    A request that asks for JSON (`wants_json`) gets kali's error pages as JSON
    (`json_error`); a page already in the app's layout is left as it is.
    """
    try:
        result = handler(request)
        response = result if type(result) is Response else to_response(result)
    except Exception:
        # A client that reads JSON cannot show the debug page: it gets the JSON 500 (the log has the traceback).
        response = error_response(request, debug=debug and not wants_json(request))
    if type(response) is ErrorResponse and wants_json(request):
        return json_error(response)
    return response


def error_response(request: Request, *, debug: bool = True) -> Response:
    """The page for the exception being handled: an HTTPError's own page, or a logged 500."""
    error = sys.exc_info()[1]
    if isinstance(error, HTTPError):
        return Response.generic(error.status, error.message, headers=error.headers, detail=error.detail)
    return internal_error(request, debug=debug)


def wants_json(request: Request) -> bool:
    """Whether the client prefers JSON to HTML: its Accept names JSON with a higher q than HTML.

    'application/json' and 'application/json, text/plain, */*' do; a browser's
    'text/html,...,*/*;q=0.8' and fetch()'s default '*/*' do not.
    """
    accept = request.headers.get("accept")
    if not accept or "json" not in accept:
        return False
    json_q = html_q = 0.0
    for item in accept.lower().split(","):
        media, _, params = item.partition(";")
        media = media.strip(" \t")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip(" \t") == "q":
                try:
                    q = float(value.strip(" \t"))
                except ValueError:
                    q = 0.0
        if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
            json_q = max(json_q, q)
        elif media in ("text/html", "application/xhtml+xml"):
            html_q = max(html_q, q)
    return json_q > 0 and json_q > html_q


def json_error(response: ErrorResponse) -> Response:
    """The error of a kali error page as JSON: `{"error": {"status": 404, "reason": "Not Found", "message": ...}}`.

    The status and the other header fields (Allow, Retry-After...) stay as they were.
    """
    import json as _json
    code = response.code
    body = _json.dumps({"error": {"status": code, "reason": STATUS_PHRASES.get(code, "Error"),
                                  "message": response.error.message}},
                       ensure_ascii=False, separators=(",", ":"))
    dressed = Response(body, code=response.code, headers=response.headers)
    dressed.headers["Content-Type"] = "application/json"
    return dressed


def internal_error(request: Request, *, debug: bool = True) -> Response:
    """The 500 page for the exception being handled; logs the traceback.

    With `debug`, and only for a client on this machine (a traceback names files and
    code), the page is the debug page, kali's own whatever `set_error_page` says;
    otherwise the error page says only that the details are in the log.
    """
    target = redact_target(request.target)      # a private app's launch token stays out of the log
    logger.exception("error while handling %s %s", request.method, target)
    error = sys.exc_info()[1]
    if debug and error is not None:
        from .security import is_local_client     # kali.security builds on this module
        debug = is_local_client(request.client[0])
    if debug and error is not None:
        try:
            from .debug_page import debug_page  # loaded on the first error, not by `import kali`
            return Response(debug_page(request, error), code=500, headers={"Cache-Control": "no-store"})
        except Exception:
            # The page must not hide the error it reports: fall back to the plain traceback.
            logger.exception("the debug page failed; showing the plain traceback")
            import traceback
            summary = "".join(traceback.format_exception_only(type(error), error))
            detail = summary + "\n" + "".join(traceback.format_exception(type(error), error, error.__traceback__))
            message = f"The handler for {request.method} {target} raised an exception."
            return Response(error_page(500, message, detail), code=500, headers={"Cache-Control": "no-store"})
    return Response.generic(500, "The server could not complete this request; the details are in its log.")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp: float) -> str:
    """An IMF-fixdate (RFC 9110) for a Unix time, independent of the locale."""
    import time
    t = time.gmtime(timestamp)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")

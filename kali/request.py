"""`Request`: one parsed HTTP request, with its query, form, files and cookies decoded on demand."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode

from .errors import HTTPError
from .http import OWS, Headers, RequestHead
from .multipart import UploadedFile, parse_header_params, parse_multipart
from .patterns import compile_later

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Iterator, TypeVar

    V = TypeVar("V")

__all__ = ["Request", "FormBag", "MissingField"]


def __getattr__(name: str) -> Any:
    # is_local_client is network policy and lives in kali.security; the old import keeps working.
    if name == "is_local_client":
        from .security import is_local_client
        return is_local_client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class MissingField(HTTPError, KeyError):
    """A form or query field the handler asked for is absent: a 400 naming the field."""

    def __init__(self, name: str, where: str) -> None:
        HTTPError.__init__(self, 400, f"The {where} field {name!r} is missing.")
        self.name = name

    def __str__(self) -> str:
        return self.message


class FormBag(Mapping[str, "V"]):      # "V": the TypeVar exists for type checkers only
    """Query or form fields: `bag[name]` is the first value, `bag.get_list(name)` all of them."""

    __slots__ = ("_pairs", "_first", "_where")

    def __init__(self, pairs: list[tuple[str, V]] | None = None, where: str = "form") -> None:
        self._pairs: list[tuple[str, V]] = pairs if pairs is not None else []
        self._first: dict[str, V] = {}
        for name, value in self._pairs:
            self._first.setdefault(name, value)
        self._where = where

    def __getitem__(self, name: str) -> V:
        try:
            return self._first[name]
        except KeyError:
            raise MissingField(name, self._where) from None

    def get_list(self, name: str) -> list[V]:
        """Every value sent for `name`, in order (empty if none)."""
        return [v for n, v in self._pairs if n == name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def __contains__(self, name: object) -> bool:
        return name in self._first

    def pairs(self) -> list[tuple[str, V]]:
        """All (name, value) pairs in the order they were sent."""
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"FormBag({self._pairs!r})"


if TYPE_CHECKING:
    # To a type checker `_lazy` is functools.cached_property (generic in what it computes); at run
    # time it is the descriptor below, which needs no typing.Generic (typing is not imported).
    from functools import cached_property as _lazy
else:
    class _lazy:
        """Compute an attribute on first use and keep it in the instance (no lock, unlike cached_property)."""

        def __init__(self, func: Callable[[Any], Any]) -> None:
            self.func = func
            self.name = func.__name__
            self.__doc__ = func.__doc__

        def __set_name__(self, owner: type, name: str) -> None:
            self.name = name

        def __get__(self, obj: Any, owner: type | None = None) -> Any:
            if obj is None:
                return self
            value = self.func(obj)
            obj.__dict__[self.name] = value
            return value


def _unquote(text: str) -> str:
    if "%" not in text:
        return text
    try:
        return unquote(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise HTTPError(400, "The request path is not valid UTF-8 once percent-decoded.") from None


def _parse_query(text: str, where: str) -> list[tuple[str, str]]:
    if not text:
        return []
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                         max_num_fields=10000)
    except UnicodeDecodeError:
        raise HTTPError(400, f"The {where} is not valid UTF-8 once percent-decoded.") from None
    except ValueError:
        raise HTTPError(413, f"The {where} has too many fields.") from None


# A \uD800-\uDFFF escape in a JSON text: only then can a decoded string hold a lone surrogate.
_SURROGATE_ESCAPE = compile_later(rb"\\u[dD][89a-fA-F]")

# Characters `app_url` leaves as they are in a path segment (RFC 3986 pchar minus ';', '=', '&', '+').
_APP_URL_SAFE = "-._~!$'()*,:@"


def _url_text(value: Any) -> str:
    if value is None:
        raise ValueError("a URL segment or query value cannot be None")
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _url_segment(value: Any) -> str:
    text = _url_text(value)
    if text in ("", ".", ".."):
        # Browsers drop or resolve these, so no URL can carry them as a segment.
        raise ValueError(f"{text!r} cannot be a URL path segment")
    return quote(text, safe=_APP_URL_SAFE)


def _build_url(mount: str, path: str, args: tuple[Any, ...], query: dict[str, Any]) -> str:
    """mount + path with each '*' segment replaced by an encoded argument, then any query."""
    parts = path.lstrip("/").split("/") if path else [""]
    pending = list(args)
    out = []
    for part in parts:
        if part == "*":
            if not pending:
                raise ValueError(f"the URL {path!r} has more '*' than arguments ({len(args)})")
            out.append(_url_segment(pending.pop(0)))
        else:
            out.append(quote(part, safe=_APP_URL_SAFE))
    if pending:
        if out[-1] == "":
            out.pop()
        out.extend(_url_segment(arg) for arg in pending)
    url = mount + "/" + "/".join(out)
    pairs = []
    for name, value in query.items():
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            pairs.append((name, _url_text(item)))
    if pairs:
        url += "?" + urlencode(pairs, quote_via=quote, safe="")
    return url


class Request:
    """An HTTP request as a handler sees it; everything beyond the head is decoded lazily."""

    #: Largest urlencoded form body that will be decoded (multipart bodies stream instead).
    max_form_size = 16 << 20

    def __init__(self, method: str, target: str, *, version: str = "HTTP/1.1",
                 headers: Headers | Mapping[str, str] | None = None,
                 body: bytes | IO[bytes] = b"",
                 client: tuple[str, int] = ("127.0.0.1", 0), scheme: str = "http",
                 server: tuple[str, int] = ("127.0.0.1", 80)) -> None:
        self.method = method
        #: The request target exactly as sent (path and query, still percent-encoded).
        self.target = target
        self.version = version
        self.headers = headers if isinstance(headers, Headers) else Headers(
            None if headers is None else headers.items())
        self._body = body
        #: (address, port) of the connecting client.
        self.client = client
        self.scheme = scheme
        #: (address, port) the server is listening on.
        self.server = server

    #: The part of the path consumed by routing so far ('' at the top level), percent-encoded,
    #: without a trailing slash: '/static' for a handler mounted with delegate_folder('/static/').
    mount = ""
    # Uploaded files to delete when the request is closed (a list once there are any).
    _files: tuple[UploadedFile, ...] | list[UploadedFile] = ()

    @classmethod
    def from_head(cls, head: RequestHead, body: bytes | IO[bytes], client: tuple[str, int],
                  server: tuple[str, int], scheme: str = "http") -> "Request":
        """A request built from a parsed head (the server's general path)."""
        return cls._from_parts(head.method, head.target, head.version, head.headers, head.authority,
                               body, client, server, scheme)

    @classmethod
    def _from_parts(cls, method: str, target: str, version: str, headers: Headers, authority: str | None,
                    body: bytes | IO[bytes], client: tuple[str, int], server: tuple[str, int],
                    scheme: str) -> "Request":
        # Once per request: the attributes go in as one dict, without __init__'s conversions.
        self = cls.__new__(cls)
        # Every handler stack looks at the path (kali.reserved, a Router): found here in C calls
        # rather than through two lazy attributes.
        raw_path = target.partition("?")[0]
        fields = {"method": method, "target": target, "version": version, "headers": headers,
                  "authority": authority, "_body": body, "client": client, "scheme": scheme,
                  "server": server, "raw_path": raw_path}
        if "%" not in raw_path:
            fields["path"] = raw_path
        self.__dict__ = fields
        return self

    # -- the target ------------------------------------------------------------

    @_lazy
    def raw_path(self) -> str:
        """The path part of the target, still percent-encoded."""
        return self.target.split("?", 1)[0]

    @_lazy
    def query_string(self) -> str:
        """The query part of the target (after '?'), still percent-encoded."""
        q = self.target.find("?")
        return self.target[q + 1:] if q >= 0 else ""

    @_lazy
    def path(self) -> str:
        """The percent-decoded path (UTF-8)."""
        return _unquote(self.raw_path)

    @_lazy
    def segments(self) -> list[str]:
        """The decoded path segments: '/a/b/' gives ['a', 'b', '']; '%2F' stays inside a segment."""
        return [_unquote(s) for s in self.raw_path.split("/")[1:]]

    # -- routing (set by kali.routing.Router on the way to the handler) --------------

    #: Values matched by `*` wildcards on the way to the handler, outermost router first.
    wildcards: tuple[str, ...] = ()

    @_lazy
    def rest_segments(self) -> list[str]:
        """The decoded path segments below `mount` (all of them until a router consumes some)."""
        return self.segments

    @property
    def rest(self) -> str:
        """The decoded path below `mount`: '/css/a.css' for a folder handler at '/static/'."""
        segments = self.rest_segments
        return "/" + "/".join(segments) if segments else ""

    def app_url(self, path: str = "", /, *args: Any, **query: Any) -> str:
        """A URL below the current mount: each `*` in `path` (then any extra segment) is an encoded argument.

        `request.app_url('task/*/edit', 3, tab='notes')` under a router mounted at
        '/todo/' gives '/todo/task/3/edit?tab=notes'.
        """
        return _build_url(self.mount, path, args, query)

    def root_url(self, path: str = "", /, *args: Any, **query: Any) -> str:
        """Like `app_url`, but relative to the site root instead of the current mount."""
        return _build_url("", path, args, query)

    @_lazy
    def GET(self) -> FormBag[str]:
        """Fields of the query string."""
        return FormBag(_parse_query(self.query_string, "query string"), "query")

    # -- headers -------------------------------------------------------------

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters ('' if none)."""
        return parse_header_params(self.headers.get("content-type") or "")[0]

    @_lazy
    def cookies(self) -> dict[str, str]:
        """Cookies the browser sent (the first of any repeated name)."""
        jar: dict[str, str] = {}
        for header in self.headers.get_all("cookie"):
            for item in header.split(";"):
                name, eq, value = item.partition("=")
                name = name.strip(OWS)
                if not eq or not name:
                    continue
                value = value.strip(OWS)
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                jar.setdefault(name, value)
        return jar

    @_lazy
    def authority(self) -> str | None:
        """Where the client addressed the request ('host:port'): the Host header, or the authority
        of an absolute-form target, which replaces Host (RFC 9112 3.2.2); None if it sent neither."""
        host = self.headers.get("host")
        return None if host is None else host.strip(OWS)

    @property
    def host(self) -> str:
        """The request's authority (normally its Host header), or the server's address without one."""
        host = self.authority
        if host:
            return host
        address, port = self.server[:2]
        if ":" in address:
            address = f"[{address}]"
        return f"{address}:{port}"

    @property
    def origin(self) -> str:
        """scheme://host of this request, as the browser sees this server."""
        return f"{self.scheme}://{self.host}"

    # -- the body ------------------------------------------------------------

    @property
    def body(self) -> bytes:
        """The whole body as bytes (a large upload is read from its temporary file)."""
        body = self._body
        if isinstance(body, bytes):
            return body
        body.seek(0)
        data = body.read()
        body.seek(0)
        return data

    @property
    def body_file(self) -> IO[bytes]:
        """The body as a readable binary file, positioned at the start."""
        body = self._body
        if isinstance(body, bytes):
            return io.BytesIO(body)
        body.seek(0)
        return body

    def json(self) -> Any:
        """The body decoded as JSON; a 400 error if it is not JSON or not sent as JSON."""
        ctype = self.content_type
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise HTTPError(400, f"Expected a JSON body (Content-Type: application/json), got {ctype or 'none'!r}.")
        data = self.body
        import json as _json        # on first use: not every app takes JSON
        try:
            value = _json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPError(400, f"The JSON body is malformed: {exc}") from None
        except RecursionError:
            # The decoder recurses per nesting level: '[' * 100000 is a client's doing, not a bug.
            raise HTTPError(400, "The JSON body is nested too deeply.") from None
        if _SURROGATE_ESCAPE.search(data) is not None:
            # JSON's syntax admits a lone "\ud800", but it is not text: it could be neither stored
            # (sqlite3) nor sent back (UTF-8) and would fail far from here as a 500.
            try:
                _json.dumps(value, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise HTTPError(400, "The JSON body contains a lone surrogate (a \\uD800-\\uDFFF "
                                     "escape without its pair), which is not text.") from None
            except RecursionError:
                raise HTTPError(400, "The JSON body is nested too deeply.") from None
        return value

    def _parse_body_fields(self) -> tuple[FormBag[str], FormBag[UploadedFile]]:
        ctype_header = self.headers.get("content-type") or ""
        ctype, params = parse_header_params(ctype_header)
        if ctype == "application/x-www-form-urlencoded":
            body = self._body
            size = len(body) if isinstance(body, bytes) else body.seek(0, 2)
            if size > self.max_form_size:
                raise HTTPError(413, f"The form is larger than {self.max_form_size} bytes.")
            try:
                text = self.body.decode("ascii")
            except UnicodeDecodeError:
                raise HTTPError(400, "A urlencoded form body must be ASCII.") from None
            return FormBag(_parse_query(text, "form"), "form"), FormBag([], "file")
        if ctype == "multipart/form-data":
            fields, files = parse_multipart(self.body_file, params.get("boundary", ""))
            self._files = [*self._files, *(f for _, f in files)]
            return FormBag(fields, "form"), FormBag(files, "file")
        return FormBag([], "form"), FormBag([], "file")

    @_lazy
    def POST(self) -> FormBag[str]:
        """Text fields of a urlencoded or multipart form body."""
        fields, files = self._parse_body_fields()
        self.__dict__["files"] = files
        return fields

    @_lazy
    def files(self) -> FormBag[UploadedFile]:
        """Uploaded files of a multipart form body, by field name."""
        fields, files = self._parse_body_fields()
        self.__dict__["POST"] = fields
        return files

    def close(self) -> None:
        """Delete temporary files holding the body and uploads (the server calls this)."""
        for f in self._files:
            f.close()
        if not isinstance(self._body, bytes):
            self._body.close()

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target}>"

"""An in-process test client: requests go through the real parser, without a socket.

`Client(handler)` builds each request as the raw bytes a browser would send
(form bodies urlencoded or multipart, JSON, cookies from earlier responses),
feeds them to the same sans-IO `RequestParser` the server uses, calls the
handler the way the server does (`run_handler`: HTTPError -> its page,
exceptions -> 500) and collects the response as the browser would receive it
(Content-Length added, HEAD bodies dropped, files read, streams pulled).
Everything but the socket is the server's own code (`kali.exchange`): the
client is only another transport around the same exchange.

    client = Client(app)
    r = client.post("/notes", data={"title": "Milk"}, follow_redirects=True)
    assert r.status == 200 and "Milk" in r.text

What differs from a live server, on purpose:

- `Pause`s in a streamed body are skipped, not waited for, and at most
  `max_stream_items` items are pulled (so an endless event stream ends);
- an exception raised while a stream is pulled propagates to the test (the
  server would log it and cut the connection);
- the `Date`, `Server` and `Connection` headers the server adds are absent.

`serve_http` wraps the app in `kali.security.secure`; pass `secure=True` to
test through the same wrapper (Host allow-list, cross-site refusal, security
headers).  Without it the client calls the handler as given, which is what a
test of one layer usually wants.
"""

from __future__ import annotations

import json as _json
import mimetypes
import os
import time
import uuid
from email.utils import parsedate_to_datetime
from typing import IO, Any, Iterable, Mapping, Union
from urllib.parse import quote, urlencode, urljoin, urlsplit

from .errors import HTTPError
from .exchange import RequestReader, compose_handler, prepare_reply, refusal, shows_tracebacks
from .http import Headers
from .iolist import iter_chunks
from .request import Request
from .response import FileBody, Handler, Pause, Response, Stream, run_handler
from .security import DEFAULT_PORTS

__all__ = ["Client", "TestResponse"]

#: One uploaded file: raw bytes or text, an open binary file, or a tuple
#: (filename, content[, content_type]) where content is bytes, str or a file.
FileSpec = Union[bytes, str, IO[bytes], tuple[Any, ...]]
#: Form, query or file fields: a mapping (a list value means repeated fields) or (name, value) pairs.
Fields = Union[Mapping[str, Any], Iterable[tuple[str, Any]]]

_REDIRECTS = (301, 302, 303, 307, 308)


class TestResponse:
    """What a handler answered: status, headers and the body as the browser would receive it."""

    __test__ = False   # not a pytest test class

    def __init__(self, status: int, headers: Headers, body: bytes, request: Request,
                 response: Response) -> None:
        #: The status code.
        self.status = status
        #: The response headers (case-insensitive), with the Content-Length the server would send.
        self.headers = headers
        #: The body as bytes (empty for HEAD).
        self.body = body
        #: The Request the handler saw.
        self.request = request
        #: The Response object the handler produced (or the error page).
        self.response = response
        #: Earlier responses when redirects were followed.
        self.history: list[TestResponse] = []

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body decoded as JSON."""
        return _json.loads(self.body)

    @property
    def location(self) -> str | None:
        """The Location header of a redirect."""
        return self.headers.get("location")

    @property
    def content_type(self) -> str:
        """The Content-Type header ('' if none)."""
        return self.headers.get("content-type") or ""

    def __repr__(self) -> str:
        return f"<TestResponse {self.status} {len(self.body)} bytes>"


class Client:
    """Drives a handler in-process with requests built as raw HTTP bytes and parsed as the server would."""

    __test__ = False

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1:8080", scheme: str = "http",
                 headers: Mapping[str, str] | None = None, follow_redirects: bool = False,
                 client_address: tuple[str, int] = ("127.0.0.1", 50000),
                 max_stream_items: int = 10000, secure: bool = False,
                 allowed_hosts: Iterable[str] = (), allow_cross_site: Iterable[str] = (),
                 debug: bool = True) -> None:
        #: The handler as given (the app under test).
        self.app = handler
        #: The handler requests are sent to: `app` in the stack serve_http builds (kali's reserved
        #: paths, and the security wrapper when secure=True).
        self.handler = compose_handler(handler, secure=secure, allowed_hosts=allowed_hosts,
                                       allow_cross_site=allow_cross_site, debug=debug, caller="Client()")
        #: The server's address as browsers name it: the default Host header, and the port the
        #: handler sees in `request.server`.
        self.host = host
        self.scheme = scheme
        #: Headers sent with every request (a request's own headers override them).
        self.headers = dict(headers or {})
        self.follow_redirects = follow_redirects
        self.client_address = client_address
        #: A streamed body is cut after this many items (an event stream may never end).
        self.max_stream_items = max_stream_items
        #: Tracebacks on 500 pages for loopback clients, as the server does in debug mode.
        self.debug = debug
        #: Cookies set by responses, sent back with later requests like a browser's (name -> value;
        #: a test may add or remove some).  Each is sent only below the Path it was set for.
        self.cookies: dict[str, str] = {}
        self._cookie_paths: dict[str, str] = {}

    # -- cookies ---------------------------------------------------------------------

    def _cookie_header(self, path: str, extra: Mapping[str, str] | None) -> str:
        jar = {name: value for name, value in self.cookies.items()
               if _path_matches(path, self._cookie_paths.get(name, "/"))}
        jar.update(extra or {})
        return "; ".join(f"{k}={v}" for k, v in jar.items())

    def _store_cookies(self, headers: Headers, request_path: str) -> None:
        for header in headers.get_all("set-cookie"):
            pair, *attributes = header.split(";")
            name, eq, value = pair.partition("=")
            name = name.strip()
            if not eq or not name:
                continue          # browsers ignore a cookie without a name
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            path = ""
            expired = False
            max_age_seen = False
            for attribute in attributes:
                key, _, arg = attribute.partition("=")
                key = key.strip().lower()
                arg = arg.strip()
                if key == "path" and arg.startswith("/"):
                    path = arg
                elif key == "max-age" and arg.lstrip("-").isdigit():
                    max_age_seen = True
                    expired = int(arg) <= 0
                elif key == "expires" and not max_age_seen:
                    try:
                        expired = parsedate_to_datetime(arg).timestamp() <= time.time()
                    except (TypeError, ValueError, IndexError):
                        pass
            if not path:
                # RFC 6265 5.1.4: the default path is the request path's "directory".
                path = request_path[:request_path.rfind("/")] or "/"
            if expired:
                self.cookies.pop(name, None)
                self._cookie_paths.pop(name, None)
            else:
                self.cookies[name] = value
                self._cookie_paths[name] = path

    # -- requests --------------------------------------------------------------------

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a GET request."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a HEAD request (the response has the GET's headers and no body)."""
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a POST request (data=, files=, json= or body=)."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a PUT request."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a PATCH request."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a DELETE request."""
        return self.request("DELETE", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> TestResponse:
        """Send an OPTIONS request."""
        return self.request("OPTIONS", url, **kwargs)

    def request(self, method: str, url: str, *, query: Fields | None = None,
                data: Fields | None = None, files: Fields | None = None, json: Any = None,
                body: bytes | None = None, headers: Mapping[str, str | None] | None = None,
                cookies: Mapping[str, str] | None = None,
                follow_redirects: bool | None = None) -> TestResponse:
        """Send one request (and follow redirects if asked, like a browser); returns the final response.

        `url` is a path ('/a?b=1') or an absolute URL, whose host becomes the Host
        header.  `query` adds query fields; `data` sends a urlencoded form (or
        the text fields of a multipart form when `files` is given); `json` a
        JSON body; `body` raw bytes.  A list value means a repeated field.
        `headers` override the defaults (a None value leaves a header out);
        `cookies` are sent along with the ones the client keeps.
        """
        method = method.upper()
        payload, content_type = _encode_body(data, files, json, body)
        target, host = self._locate(url, query)
        response = self._exchange(method, target, host, payload, content_type, headers, cookies)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        history: list[TestResponse] = []
        while follow and response.status in _REDIRECTS and response.location:
            if len(history) >= 20:
                raise RuntimeError(f"more than 20 redirects, the last to {response.location}")
            new_url = urljoin(f"{self.scheme}://{host}{target}", response.location.strip())
            parts = urlsplit(new_url)
            if parts.scheme != self.scheme or parts.netloc.lower() != host.lower():
                break             # the redirect leaves this app: hand it back to the test
            history.append(response)
            # What browsers do (Fetch standard 4.4): 303 turns anything but HEAD into a GET;
            # 301 and 302 turn a POST into a GET; 307 and 308 repeat the request as it was.
            status = response.status
            if (status == 303 and method not in ("GET", "HEAD")) or (status in (301, 302) and method == "POST"):
                method, payload, content_type = "GET", None, None
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            response = self._exchange(method, target, host, payload, content_type, headers, cookies)
        response.history = history
        return response

    def build_request(self, method: str, url: str, *, query: Fields | None = None,
                      data: Fields | None = None, files: Fields | None = None, json: Any = None,
                      body: bytes | None = None, headers: Mapping[str, str | None] | None = None,
                      cookies: Mapping[str, str] | None = None) -> bytes:
        """The raw bytes of a request, exactly as a browser would send them."""
        payload, content_type = _encode_body(data, files, json, body)
        target, host = self._locate(url, query)
        return self._raw(method.upper(), target, host, payload, content_type, headers, cookies)

    def send_raw(self, raw: bytes) -> TestResponse:
        """Parse raw request bytes like the server does, run the handler, collect the response."""
        reader = RequestReader()
        try:
            complete = reader.feed(raw)
        except HTTPError as exc:
            reader.discard()
            # The server answers before any Request exists; the test still gets one to look at.
            request = Request("GET", "/", client=self.client_address, server=self._server_address())
            method = reader.head.method if reader.head is not None else None
            return self._collect(request, refusal(exc), refused_method=method or "")
        if not complete:
            reader.discard()
            raise ValueError("the raw request is incomplete (the server would wait for more)")
        request = reader.request(self.client_address, self._server_address(), self.scheme)
        debug = shows_tracebacks(self.debug, self.client_address[0])
        return self._collect(request, run_handler(self.handler, request, debug=debug))

    # -- internals -------------------------------------------------------------------

    def _server_address(self) -> tuple[str, int]:
        host, sep, port = self.host.rpartition(":")
        if not sep or not port.isdigit() or host.count(":") and not host.endswith("]"):
            host, port = self.host, ""
        return host.strip("[]"), int(port) if port else DEFAULT_PORTS.get(self.scheme, 80)

    def _locate(self, url: str, query: Fields | None) -> tuple[str, str]:
        """(request target, Host) for a path or an absolute URL."""
        host = self.host
        if url.lower().startswith(("http://", "https://")):
            parts = urlsplit(url)
            if parts.scheme.lower() != self.scheme:
                raise ValueError(f"this client speaks {self.scheme}, not {parts.scheme}: use "
                                 f"Client(..., scheme={parts.scheme.lower()!r}) for {url!r}")
            host = parts.netloc
            url = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return _target(url, query), host

    def _exchange(self, method: str, target: str, host: str, payload: bytes | None,
                  content_type: str | None, headers: Mapping[str, str | None] | None,
                  cookies: Mapping[str, str] | None) -> TestResponse:
        raw = self._raw(method, target, host, payload, content_type, headers, cookies)
        return self.send_raw(raw)

    def _raw(self, method: str, target: str, host: str, payload: bytes | None, content_type: str | None,
             headers: Mapping[str, str | None] | None, cookies: Mapping[str, str] | None) -> bytes:
        # Header names are case-insensitive: a test's 'host' replaces the default 'Host'.
        fields: dict[str, tuple[str, str | None]] = {}

        def put(name: str, value: str | None) -> None:
            fields[name.lower()] = (name, value)

        put("Host", host)
        for name, value in self.headers.items():
            put(name, value)
        if content_type is not None:
            put("Content-Type", content_type)
        if payload or method in ("POST", "PUT", "PATCH"):
            put("Content-Length", str(len(payload or b"")))
        cookie = self._cookie_header(target.split("?", 1)[0], cookies)
        if cookie:
            put("Cookie", cookie)
        for name, given in (headers or {}).items():
            put(name, given)
        lines = [f"{method} {target} HTTP/1.1"]
        for name, wanted in fields.values():
            if wanted is None:
                continue
            if "\r" in wanted or "\n" in wanted:
                raise ValueError(f"header {name!r} contains a line break: {wanted!r}")
            lines.append(f"{name}: {wanted}")
        text = "\r\n".join(lines) + "\r\n\r\n"
        try:
            head = text.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("request header values must be Latin-1 (browsers percent-encode other "
                             "text); encode it first") from None
        return head + (payload or b"")

    def _collect(self, request: Request, response: Response, *, refused_method: str | None = None) -> TestResponse:
        # What the server would send, decided by the server's own code: a response it cannot
        # send becomes a 500 page, HEAD loses its body.  A refused request never became a Request.
        refused = refused_method is not None
        reply = prepare_reply(None if refused else request, response, debug=self.debug, method=refused_method)
        response = reply.response
        headers = Headers(reply.fields)
        if reply.file is not None:
            content = response.content
            assert isinstance(content, FileBody)
            try:
                reply.file.seek(content.offset)
                body = reply.file.read(content.length)
            finally:
                reply.file.close()
        elif reply.stream is not None:
            body = self._pull(reply.stream)
        else:
            body = b"".join(reply.chunks)
        self._store_cookies(headers, request.raw_path if request.raw_path.startswith("/") else "/")
        request.close()
        return TestResponse(response.code, headers, body, request, response)

    def _pull(self, stream: Stream) -> bytes:
        parts: list[bytes] = []
        try:
            for n, item in enumerate(stream.iterator):
                if n >= self.max_stream_items:
                    break
                if type(item) is not Pause:
                    parts.extend(iter_chunks(item))
        finally:
            stream.close()
        return b"".join(parts)


def _path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 5.1.4 path-match."""
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def _field_pairs(fields: Fields) -> list[tuple[str, Any]]:
    """(name, value) pairs, a list or tuple value standing for a repeated field."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    out: list[tuple[str, Any]] = []
    for name, value in items:
        for one in value if isinstance(value, (list, tuple)) else (value,):
            out.append((str(name), one))
    return out


def _target(url: str, query: Fields | None) -> str:
    if not url.startswith("/") and url != "*":
        raise ValueError(f"a test request needs a path starting with '/' or an absolute URL, not {url!r}")
    url = url.split("#", 1)[0]       # browsers never send the fragment
    # Quote what a browser would quote (spaces, non-ASCII as UTF-8), leave the rest as written.
    url = quote(url, safe="/?&=%:@!$'()*+,;[]~-._")
    if query:
        pairs = [(name, _field_text(value)) for name, value in _field_pairs(query)]
        url += ("&" if "?" in url else "?") + urlencode(pairs, encoding="utf-8")
    return url


def _field_text(value: Any) -> str:
    if value is None:
        raise ValueError("a form or query field cannot be None (a browser sends '' for an empty field)")
    return str(value)


def _encode_body(data: Fields | None, files: Fields | None, json: Any,
                 body: bytes | None) -> tuple[bytes | None, str | None]:
    """(payload, Content-Type) for the body arguments of a request."""
    given = [name for name, value in (("data", data), ("files", files), ("json", json), ("body", body))
             if value is not None]
    if len(given) > 1 and given != ["data", "files"]:
        raise ValueError(f"a request takes one of data= (with files=), json= and body=, not {' and '.join(given)}")
    if json is not None:
        return _json.dumps(json).encode("utf-8"), "application/json"
    if files is not None:
        boundary = "----kaliFormBoundary" + uuid.uuid4().hex
        return _multipart(data or {}, files, boundary), f"multipart/form-data; boundary={boundary}"
    if data is not None:
        pairs = [(name, _field_text(value)) for name, value in _field_pairs(data)]
        return urlencode(pairs, encoding="utf-8").encode("ascii"), "application/x-www-form-urlencoded"
    if body is not None:
        if not isinstance(body, (bytes, bytearray)):
            raise TypeError(f"body= must be bytes, not {type(body).__name__}")
        return bytes(body), None
    return None, None


def _multipart(data: Fields, files: Fields, boundary: str) -> bytes:
    parts: list[bytes] = []
    for name, value in _field_pairs(data):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_q(name)}"\r\n\r\n'.encode("utf-8"))
        parts.append(_field_text(value).encode("utf-8") + b"\r\n")
    file_items = files.items() if isinstance(files, Mapping) else files
    for name, spec in file_items:
        for one in spec if isinstance(spec, list) else [spec]:
            filename, content, ctype = _file_spec(one)
            parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{_q(name)}"; '
                          f'filename="{_q(filename)}"\r\nContent-Type: {ctype}\r\n\r\n').encode("utf-8"))
            parts.append(content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(parts)


def _q(text: str) -> str:
    # Browsers percent-encode these three inside quoted multipart parameters.
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _file_spec(spec: Any) -> tuple[str, bytes, str]:
    """(filename, content, content type) of one file; the type is guessed from the name like a browser."""
    ctype: str | None = None
    if isinstance(spec, tuple):
        if not 2 <= len(spec) <= 3:
            raise ValueError(f"a file is (filename, content) or (filename, content, content_type), not {spec!r:.80}")
        filename, content = spec[0], spec[1]
        if len(spec) == 3:
            ctype = spec[2]
    elif isinstance(spec, (bytes, str)):
        filename, content = "upload.bin", spec
    else:
        content = spec
        filename = os.path.basename(getattr(spec, "name", "upload.bin"))
    if hasattr(content, "read"):
        content = content.read()
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, (bytes, bytearray)):
        raise TypeError(f"the content of the file {filename!r} must be bytes, str or a binary file")
    if ctype is None:
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return str(filename), bytes(content), ctype

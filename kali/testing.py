"""An in-process test client: requests go through the real parser, without a socket."""

from __future__ import annotations

import json as _json
import os
import uuid
from typing import IO, Any, Iterable, Mapping, Union
from urllib.parse import quote, urlencode, urljoin, urlsplit

from .http import END, NEED_DATA, Headers, HTTPError, RequestHead, RequestParser
from .iolist import iter_chunks, to_bytes
from .request import Request
from .response import FileBody, Handler, Pause, Response, Stream, run_handler

__all__ = ["Client", "TestResponse"]

FileSpec = Union[bytes, str, IO[bytes], tuple[Any, ...]]


class TestResponse:
    """What a handler answered: status, headers and the body as the browser would receive it."""

    __test__ = False   # not a pytest test class

    def __init__(self, status: int, headers: Headers, body: bytes, request: Request,
                 response: Response) -> None:
        self.status = status
        self.headers = headers
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

    def __repr__(self) -> str:
        return f"<TestResponse {self.status} {len(self.body)} bytes>"


class Client:
    """Drives a handler in-process with requests built as raw HTTP bytes and parsed as the server would."""

    __test__ = False

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1:8080", scheme: str = "http",
                 headers: Mapping[str, str] | None = None, follow_redirects: bool = False,
                 client_address: tuple[str, int] = ("127.0.0.1", 50000),
                 max_stream_items: int = 10000) -> None:
        self.handler = handler
        self.host = host
        self.scheme = scheme
        self.headers = dict(headers or {})
        self.follow_redirects = follow_redirects
        self.client_address = client_address
        self.max_stream_items = max_stream_items
        #: Cookies set by responses, sent back with later requests (like a browser).
        self.cookies: dict[str, str] = {}

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a GET request."""
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a HEAD request."""
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a POST request (data=, files=, json= or body=)."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a PUT request."""
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        """Send a DELETE request."""
        return self.request("DELETE", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> TestResponse:
        """Send an OPTIONS request."""
        return self.request("OPTIONS", url, **kwargs)

    def request(self, method: str, url: str, *, query: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
                data: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
                files: Mapping[str, FileSpec] | None = None, json: Any = None,
                body: bytes | None = None, headers: Mapping[str, str] | None = None,
                cookies: Mapping[str, str] | None = None,
                follow_redirects: bool | None = None) -> TestResponse:
        """Send one request (and follow redirects if asked); returns the final response."""
        raw = self.build_request(method, url, query=query, data=data, files=files, json=json,
                                 body=body, headers=headers, cookies=cookies)
        response = self.send_raw(raw)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        history: list[TestResponse] = []
        while follow and response.status in (301, 302, 303, 307, 308) and response.location:
            if len(history) >= 20:
                raise RuntimeError(f"more than 20 redirects, the last to {response.location}")
            history.append(response)
            base = f"{self.scheme}://{self.host}{response.request.target}"
            target = urljoin(base, response.location)
            parts = urlsplit(target)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            if response.status in (307, 308):
                raw = self.build_request(method, path, data=data, files=files, json=json, body=body,
                                         headers=headers, cookies=cookies)
            else:
                raw = self.build_request("GET" if method != "HEAD" else "HEAD", path, headers=headers,
                                         cookies=cookies)
            response = self.send_raw(raw)
        response.history = history
        return response

    def build_request(self, method: str, url: str, *, query: Any = None, data: Any = None,
                      files: Mapping[str, FileSpec] | None = None, json: Any = None,
                      body: bytes | None = None, headers: Mapping[str, str] | None = None,
                      cookies: Mapping[str, str] | None = None) -> bytes:
        """The raw bytes of a request, exactly as a browser would send them."""
        target = _target(url, query)
        all_headers: dict[str, str] = {"Host": self.host}
        all_headers.update(self.headers)
        payload = b""
        if json is not None:
            payload = _json.dumps(json).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        elif files:
            boundary = "kali-" + uuid.uuid4().hex
            payload = _multipart(data or {}, files, boundary)
            all_headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif data is not None:
            pairs = data.items() if isinstance(data, Mapping) else data
            flat = [(k, v) for k, value in pairs for v in (value if isinstance(value, list) else [value])]
            payload = urlencode(flat, encoding="utf-8").encode("ascii")
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            payload = body
        if payload or method in ("POST", "PUT", "PATCH"):
            all_headers["Content-Length"] = str(len(payload))
        jar = dict(self.cookies)
        jar.update(cookies or {})
        if jar:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        all_headers.update(headers or {})
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in all_headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload

    def send_raw(self, raw: bytes) -> TestResponse:
        """Parse raw request bytes like the server does, run the handler, collect the response."""
        parser = RequestParser()
        parser.feed(raw)
        head: RequestHead | None = None
        chunks: list[bytes] = []
        try:
            while True:
                event = parser.next_event()
                if event is END:
                    break
                if event is NEED_DATA:
                    raise ValueError("the raw request is incomplete")
                if isinstance(event, RequestHead):
                    head = event
                elif isinstance(event, bytes):
                    chunks.append(event)
        except HTTPError as exc:
            request = Request("GET", "/", client=self.client_address)
            return self._collect(request, Response.generic(exc.status, exc.message))
        assert head is not None
        host, _, port = self.host.rpartition(":")
        server = (host or self.host, int(port) if port.isdigit() else 80)
        request = Request.from_head(head, b"".join(chunks), self.client_address, server, self.scheme)
        return self._collect(request, run_handler(self.handler, request))

    def _collect(self, request: Request, response: Response) -> TestResponse:
        content = response.content
        body: bytes
        if request.method == "HEAD":
            if isinstance(content, Stream):
                content.close()
            elif isinstance(content, FileBody) and content.file is not None:
                content.file.close()
            body = b""
        elif isinstance(content, FileBody):
            f = content.open()
            try:
                f.seek(content.offset)
                body = f.read(content.length)
            finally:
                f.close()
        elif isinstance(content, Stream):
            parts: list[bytes] = []
            try:
                for n, item in enumerate(content.iterator):
                    if n >= self.max_stream_items:
                        break
                    if not isinstance(item, Pause):
                        parts.extend(iter_chunks(item))
            finally:
                content.close()
            body = b"".join(parts)
        else:
            body = to_bytes(content)
        headers = response.headers.copy()
        if not isinstance(content, Stream) and response.code not in (204, 304):
            length = content.length if isinstance(content, FileBody) else len(to_bytes(content))
            headers["Content-Length"] = str(length)
        for value in headers.get_all("set-cookie"):
            name, _, rest = value.partition("=")
            cookie_value, _, attributes = rest.partition(";")
            if "max-age=0" in attributes.lower().replace(" ", ""):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = cookie_value.strip()
        request.close()
        return TestResponse(response.code, headers, body, request, response)


def _target(url: str, query: Any) -> str:
    if url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        url = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not url.startswith("/") and url != "*":
        raise ValueError(f"a test request needs a path starting with '/', not {url!r}")
    # Quote what a browser would quote (spaces, non-ASCII), leave the rest as written.
    url = quote(url, safe="/?&=%:@!$'()*+,;[]~#-._")
    if query:
        pairs = query.items() if isinstance(query, Mapping) else query
        url += ("&" if "?" in url else "?") + urlencode(list(pairs), encoding="utf-8")
    return url


def _multipart(data: Any, files: Mapping[str, FileSpec], boundary: str) -> bytes:
    parts: list[bytes] = []
    pairs = data.items() if isinstance(data, Mapping) else data
    for name, value in pairs:
        for v in value if isinstance(value, list) else [value]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{_q(name)}"\r\n\r\n'.encode("utf-8"))
            parts.append(str(v).encode("utf-8") + b"\r\n")
    for name, spec in files.items():
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
    if isinstance(spec, tuple):
        filename = spec[0]
        content = spec[1]
        ctype = spec[2] if len(spec) > 2 else "application/octet-stream"
    else:
        content = spec
        filename = os.path.basename(getattr(spec, "name", "upload.bin"))
        ctype = "application/octet-stream"
    if hasattr(content, "read"):
        content = content.read()
    if isinstance(content, str):
        content = content.encode("utf-8")
    return filename, content, ctype

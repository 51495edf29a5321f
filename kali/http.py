"""Sans-IO HTTP/1.x: parse request bytes into events; the status line of a response.

Nothing here touches a socket or a clock.  Feed bytes with
`RequestParser.feed`, then call `RequestParser.next_event` until it returns
`NEED_DATA`; it hands out one `RequestHead`, then body chunks (`bytes`), then
`END`.  Anything malformed raises `ProtocolError`, whose `status` is the HTTP
status code the server should answer with.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator, Union

# HTTPError is an application error (kali.errors); it is importable from here as it always was.
from .errors import HTTPError as HTTPError

__all__ = [
    "ProtocolError", "Headers", "RequestHead", "RequestParser",
    "NEED_DATA", "END", "Event", "STATUS_PHRASES", "status_line",
]


class ProtocolError(HTTPError):
    """The client broke HTTP/1.x; `status` says which 4xx/5xx to answer with."""


def _phrases() -> dict[int, str]:
    from http import HTTPStatus
    return {s.value: s.phrase for s in HTTPStatus}


#: Reason phrases for every status code the standard library knows.
STATUS_PHRASES: dict[int, str] = _phrases()


class Headers:
    """A case-insensitive multi-map of header fields that keeps their order and repeats."""

    __slots__ = ("_items", "_first")

    def __init__(self, items: Union[Iterable[tuple[str, str]], "dict[str, str]", "Headers", None] = None) -> None:
        self._items: list[tuple[str, str]] = []
        self._first: dict[str, str] = {}
        if items is not None:
            # Any mapping (it has .items()) gives its pairs; anything else is a sequence of pairs.
            pairs = items.items() if hasattr(items, "items") else items
            for name, value in pairs:
                self.add(name, value)

    @classmethod
    def _from_parsed(cls, items: list[tuple[str, str]], first: dict[str, str]) -> "Headers":
        # The parser builds both structures in one pass; skip re-validation.
        self = cls.__new__(cls)
        self._items = items
        self._first = first
        return self

    def add(self, name: str, value: str) -> None:
        """Append a field, keeping any earlier fields of the same name."""
        value = str(value)
        self._items.append((name, value))
        self._first.setdefault(name.lower(), value)

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every field called `name` with one field."""
        key = name.lower()
        value = str(value)
        if key in self._first:
            self._items = [(n, v) for n, v in self._items if n.lower() != key]
        self._items.append((name, value))
        self._first[key] = value

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        if key not in self._first:
            raise KeyError(name)
        del self._first[key]
        self._items = [(n, v) for n, v in self._items if n.lower() != key]

    def setdefault(self, name: str, value: str) -> str:
        """Add the field unless one of that name is present; return the value in force."""
        existing = self._first.get(name.lower())
        if existing is None:
            self.add(name, value)
            return str(value)
        return existing

    def __getitem__(self, name: str) -> str:
        return self._first[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of field `name`, or `default`."""
        return self._first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of field `name`, in the order received."""
        key = name.lower()
        if key not in self._first:
            return []
        return [v for n, v in self._items if n.lower() == key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return (n for n, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs in order, repeats included."""
        return list(self._items)

    def copy(self) -> "Headers":
        """An independent copy."""
        return Headers._from_parsed(list(self._items), dict(self._first))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class RequestHead:
    """The request line and header fields of one request, as parsed."""

    __slots__ = ("method", "target", "version", "headers", "content_length", "chunked", "expect_continue")

    def __init__(self, method: str, target: str, version: str, headers: Headers,
                 content_length: int | None = None, chunked: bool = False,
                 expect_continue: bool = False) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        #: Declared body length; None for chunked bodies and bodiless requests.
        self.content_length = content_length
        self.chunked = chunked
        #: The client waits for `100 Continue` before sending the body.
        self.expect_continue = expect_continue

    @property
    def has_body(self) -> bool:
        """Whether body events will follow this head."""
        return self.chunked or bool(self.content_length)

    def __repr__(self) -> str:
        return f"<RequestHead {self.method} {self.target} {self.version}>"


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: `next_event` result: the parser needs more bytes to go on.
NEED_DATA = _Marker("NEED_DATA")
#: `next_event` result: the request (head and body) is complete.
END = _Marker("END")

Event = Union[RequestHead, bytes, _Marker]

# RFC 9110 token characters: method names and field names.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Field values: visible ASCII, obs-text, SP and HTAB; no NUL, CR, LF or other controls.
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# The same rules on text (the head is decoded once, as Latin-1, then checked as str); a
# request target must be visible ASCII only (obs-text is not allowed there).
_TOKEN_S = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_VERSION_S = re.compile(r"HTTP/([0-9])\.([0-9])\Z")
_BAD_TARGET_S = re.compile(r"[^\x21-\x7e]")
# Control characters other than HTAB, CR and LF are never valid anywhere in a head.
_BAD_HEAD = re.compile(rb"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}\Z")
_DIGITS = re.compile(r"[0-9]{1,18}\Z")

_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _DONE = range(7)


class RequestParser:
    """Turns the bytes of one HTTP/1.x request into head, body and end events."""

    def __init__(self, *, max_request_line: int = 8190, max_header_bytes: int = 65536,
                 max_headers: int = 100, max_body_size: int | None = None) -> None:
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body_size = max_body_size
        self._buf = bytearray()
        self._state = _HEAD
        self._scan_from = 0          # where the search for the end of the head resumes
        self._remaining = 0          # body bytes (or chunk bytes) still to come
        self._body_seen = 0          # decoded body bytes so far, for the size limit
        self._trailer_bytes = 0
        self._line_checked = False
        self.head: RequestHead | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Add received bytes; after END they are ignored (one request per connection)."""
        if self._state != _DONE:
            self._buf += data

    def next_event(self) -> Event:
        """The next event, or NEED_DATA; raises ProtocolError for a bad request."""
        state = self._state
        if state == _HEAD:
            return self._parse_head()
        if state == _BODY:
            return self._next_body_bytes()
        if state == _DONE:
            return END
        return self._next_chunked()

    # -- head ----------------------------------------------------------------

    def _parse_head(self) -> Event:
        buf = self._buf
        # Tolerate the empty lines some clients send before a request (RFC 9112 2.2).
        while buf[:2] == b"\r\n" or buf[:1] == b"\n":
            del buf[:2 if buf[:1] == b"\r" else 1]
        if not buf:
            return NEED_DATA
        start = self._scan_from
        end = buf.find(b"\n\r\n", start)
        lf = buf.find(b"\n\n", start, end + 1 if end >= 0 else len(buf))
        if lf >= 0:
            end, sep = lf, 2
        elif end >= 0:
            sep = 3
        else:
            self._check_incomplete_head()
            self._scan_from = max(0, len(buf) - 2)
            return NEED_DATA
        raw = bytes(buf[:end - 1] if buf[end - 1:end] == b"\r" else buf[:end])
        del buf[:end + sep]
        self._scan_from = 0
        if end + sep > self.max_header_bytes:
            if raw.find(b"\n", 0, self.max_request_line + 2) < 0:
                # Say the same as when the head arrives in pieces: the line itself is too long.
                raise ProtocolError(414, "The request line is too long.")
            raise ProtocolError(431, "The request header section is too large.")
        return self._make_head(raw)

    def _check_incomplete_head(self) -> None:
        buf = self._buf
        first_lf = buf.find(b"\n", 0, self.max_request_line + 2)
        if first_lf < 0:
            if len(buf) > self.max_request_line:
                raise ProtocolError(414, "The request line is too long.")
            if not self._line_checked:
                self._check_method_prefix()
        elif not self._line_checked:
            # Refuse garbage as soon as its first line is in, rather than waiting for a head
            # that will never end.
            line = bytes(buf[:first_lf])
            self._split_request_line(line[:-1] if line[-1:] == b"\r" else line)
            self._line_checked = True
        if len(buf) > self.max_header_bytes:
            raise ProtocolError(431, "The request header section is too large.")

    def _check_method_prefix(self) -> None:
        buf = self._buf
        if buf == b"\r":
            return      # the first half of an empty line before the request, split from its LF
        if buf[:1] == b"\x16":
            raise ProtocolError(400, "This is a plain HTTP server: use http://, not https://.")
        space = buf.find(b" ", 0, 64)
        method = bytes(buf[:space] if space >= 0 else buf[:64])
        if (space < 0 and len(buf) >= 64) or (method and not _TOKEN.match(method)):
            raise ProtocolError(400, "The request method is malformed.")

    def _split_request_line(self, line: bytes | str) -> list[str]:
        if len(line) > self.max_request_line:
            raise ProtocolError(414, "The request line is too long.")
        if isinstance(line, bytes):
            line = line.decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3:
            raise ProtocolError(400, "The request line is malformed.")
        method, target, version = parts
        m = _VERSION_S.match(version)
        if m is None:
            raise ProtocolError(400, "The request line is malformed.")
        if m.group(1) != "1":
            raise ProtocolError(505, "Only HTTP/1.x is supported.")
        if not _TOKEN_S.match(method):
            raise ProtocolError(400, "The request method is malformed.")
        if not target or _BAD_TARGET_S.search(target):
            raise ProtocolError(400, "The request target is malformed.")
        return parts

    def _make_head(self, raw: bytes) -> RequestHead:
        # Whole-head checks first (C speed), then one decode; the loop below works on str.
        if _BAD_HEAD.search(raw):
            raise ProtocolError(400, "The request head contains a control character.")
        crlf = raw.count(b"\r\n")
        if raw.count(b"\r") != crlf:
            raise ProtocolError(400, "The request head contains a CR that does not end a line.")
        text = raw.decode("latin-1")
        if raw.count(b"\n") == crlf:
            lines = text.split("\r\n")
        else:
            lines = text.replace("\r\n", "\n").split("\n")     # bare LF line endings
        method, target, version = self._split_request_line(lines[0])
        if target[0] != "/":
            target = _normalise_target(method, target)

        if len(lines) - 1 > self.max_headers:
            raise ProtocolError(431, "The request has too many header fields.")
        items: list[tuple[str, str]] = []
        first: dict[str, str] = {}
        token = _TOKEN_S.match
        for hline in lines[1:]:
            name, colon, value = hline.partition(":")
            if not colon or not token(name):
                if hline[:1] in (" ", "\t"):
                    raise ProtocolError(400, "Folded header lines (obs-fold) are not accepted.")
                raise ProtocolError(400, "A header line is malformed.")
            value = value.strip(" \t")
            items.append((name, value))
            key = name.lower()
            if key in first:
                if key in ("content-length", "host", "transfer-encoding"):
                    first[key] = first[key] + "\0" + value   # checked below
            else:
                first[key] = value
        headers = Headers._from_parsed(items, first)
        head = RequestHead(method, target, version, headers)
        self._frame_body(head, first)
        self.head = head
        return head

    def _frame_body(self, head: RequestHead, first: dict[str, str]) -> None:
        host = first.get("host")
        if host is not None and "\0" in host:
            raise ProtocolError(400, "The request has more than one Host header.")
        if host is None and head.version == "HTTP/1.1":
            raise ProtocolError(400, "An HTTP/1.1 request must have a Host header.")
        te = first.get("transfer-encoding")
        cl = first.get("content-length")
        if te is not None:
            if cl is not None:
                raise ProtocolError(400, "A request may not have both Content-Length and Transfer-Encoding.")
            if head.version == "HTTP/1.0":
                raise ProtocolError(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request.")
            codings = [c.strip().lower() for c in te.replace("\0", ",").split(",") if c.strip()]
            for coding in codings:
                if coding != "chunked":
                    raise ProtocolError(501, f"Transfer-Encoding {coding!r} is not supported.")
            if len(codings) != 1:
                raise ProtocolError(400, "The Transfer-Encoding header is malformed.")
            head.chunked = True
            self._state = _CHUNK_SIZE
            first["transfer-encoding"] = "chunked"
        elif cl is not None:
            values = {v.strip() for part in cl.split("\0") for v in part.split(",")}
            if len(values) != 1:
                raise ProtocolError(400, "The request has conflicting Content-Length values.")
            value = values.pop()
            if not _DIGITS.match(value):
                raise ProtocolError(400, "The Content-Length header is not a number.")
            length = int(value)
            if self.max_body_size is not None and length > self.max_body_size:
                raise ProtocolError(413, f"The request body is larger than {self.max_body_size} bytes.")
            head.content_length = length
            first["content-length"] = value
            self._remaining = length
            self._state = _BODY if length else _DONE
        else:
            self._state = _DONE
        if head.has_body and head.version != "HTTP/1.0":
            expect = first.get("expect")
            head.expect_continue = expect is not None and expect.lower() == "100-continue"

    # -- bodies --------------------------------------------------------------

    def _take_remaining(self) -> bytes:
        """Up to `_remaining` buffered body bytes (the caller checked the buffer is not empty)."""
        buf = self._buf
        n = self._remaining
        if len(buf) <= n:
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:n])
            del buf[:n]
        self._remaining -= len(data)
        return data

    def _next_body_bytes(self) -> Event:
        if not self._buf:
            return NEED_DATA
        data = self._take_remaining()
        if not self._remaining:
            self._state = _DONE
        return data

    def _read_line(self, limit: int, what: str) -> bytes | None:
        buf = self._buf
        lf = buf.find(b"\n", 0, limit + 2)
        if lf < 0:
            if len(buf) > limit:
                raise ProtocolError(400, f"The {what} line is too long.")
            return None
        line = bytes(buf[:lf])
        del buf[:lf + 1]
        return line[:-1] if line[-1:] == b"\r" else line

    def _next_chunked(self) -> Event:
        while True:
            state = self._state
            if state == _CHUNK_SIZE:
                line = self._read_line(4096, "chunk size")
                if line is None:
                    return NEED_DATA
                if _BAD_VALUE.search(line):
                    raise ProtocolError(400, "A chunk size line contains a control character.")
                size_b = line.split(b";", 1)[0].strip(b" \t")
                if not _HEX.match(size_b):
                    raise ProtocolError(400, "A chunk size is malformed.")
                size = int(size_b, 16)
                if size == 0:
                    self._state = _TRAILERS
                    continue
                self._body_seen += size
                if self.max_body_size is not None and self._body_seen > self.max_body_size:
                    raise ProtocolError(413, f"The request body is larger than {self.max_body_size} bytes.")
                self._remaining = size
                self._state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                if not self._buf:
                    return NEED_DATA
                data = self._take_remaining()
                if not self._remaining:
                    self._state = _CHUNK_CRLF
                return data
            elif state == _CHUNK_CRLF:
                buf = self._buf
                if buf[:2] == b"\r\n":
                    del buf[:2]
                elif buf[:1] == b"\n":
                    del buf[:1]
                elif len(buf) >= 2 or (buf and buf[:1] != b"\r"):
                    raise ProtocolError(400, "A chunk is not followed by CRLF.")
                else:
                    return NEED_DATA
                self._state = _CHUNK_SIZE
            elif state == _TRAILERS:
                line = self._read_line(8190, "trailer")
                if line is None:
                    return NEED_DATA
                if not line:
                    self._state = _DONE
                    return END
                self._trailer_bytes += len(line)
                if self._trailer_bytes > self.max_header_bytes:
                    raise ProtocolError(431, "The request trailer section is too large.")
                if b":" not in line or line[:1] in (b" ", b"\t") or _BAD_VALUE.search(line):
                    raise ProtocolError(400, "A trailer line is malformed.")
            else:
                return END


def _normalise_target(method: str, target: str) -> str:
    """Turn absolute-form and asterisk-form targets into something a router can use."""
    if target == "*" and method == "OPTIONS":
        return target
    lower = target[:8].lower()
    if lower.startswith("http://") or lower.startswith("https://"):
        rest = target.split("//", 1)[1]
        slash = rest.find("/")
        query = rest.find("?")
        if slash < 0 or (0 <= query < slash):
            return "/" + (rest[query:] if query >= 0 else "")
        return rest[slash:]
    raise ProtocolError(400, "The request target is malformed.")


# -- responses -----------------------------------------------------------------

_status_lines: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    """The HTTP/1.0 status line for `status`, CRLF included."""
    line = _status_lines.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ValueError(f"{status!r} is not an HTTP status code")
        line = f"HTTP/1.0 {status} {STATUS_PHRASES.get(status, 'Unknown')}\r\n".encode("ascii")
        _status_lines[status] = line
    return line

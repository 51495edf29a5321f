"""Sans-IO HTTP/1.x: parse request bytes into events; the status line of a response.

Nothing here touches a socket or a clock.  Feed bytes with
`RequestParser.feed`, then call `RequestParser.next_event` until it returns
`NEED_DATA`; it hands out one `RequestHead`, then body chunks (`bytes`), then
`END`.  Anything malformed raises `ProtocolError`, whose `status` is the HTTP
status code the server should answer with.
"""

from __future__ import annotations

import re
from operator import methodcaller

# HTTPError is an application error (kali.errors); it is importable from here as it always was.
from .errors import HTTPError as HTTPError
from .patterns import compile_later

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator, TypeAlias, Union

__all__ = [
    "ProtocolError", "Headers", "RequestHead", "RequestParser",
    "NEED_DATA", "END", "Event", "STATUS_PHRASES", "status_line", "OWS",
    "TOKEN_PARAMETER", "split_absolute_target", "redact_target", "whole_head_parts",
]


class ProtocolError(HTTPError):
    """The client broke HTTP/1.x; `status` says which 4xx/5xx to answer with."""


_PARTITION = methodcaller("partition", ":")


def _phrases() -> dict[int, str]:
    from http import HTTPStatus
    return {s.value: s.phrase for s in HTTPStatus}


#: Reason phrases for every status code the standard library knows.
STATUS_PHRASES: dict[int, str] = _phrases()


class Headers:
    """A case-insensitive multi-map of header fields that keeps their order and repeats."""

    __slots__ = ("_items", "_first", "_lines")
    _lines: tuple[str, str | None, bool]      # set only while a parsed block is unsplit

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

    @classmethod
    def _from_lines(cls, lines: str, content_length: str | None, chunked: bool) -> "Headers":
        # The parser's fast path has checked every line already; most requests never read most
        # of their headers, so they are split into pairs on first use only.
        self = cls.__new__(cls)
        self._lines = (lines, content_length, chunked)
        return self

    def __getattr__(self, name: str) -> Any:
        # Reached only while a parsed block is still unsplit (__slots__ attributes unset).
        if name not in ("_items", "_first"):
            raise AttributeError(name)
        lines, content_length, chunked = self._lines
        items = [(n, v.strip(OWS)) for n, _, v in map(_PARTITION, lines.split("\r\n"))] if lines else []
        self._items = items
        self._first = _first_values(items, content_length, chunked)
        return object.__getattribute__(self, name)

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

    __slots__ = ("method", "target", "version", "headers", "content_length", "chunked", "expect_continue",
                 "authority")

    def __init__(self, method: str, target: str, version: str, headers: Headers,
                 content_length: int | None = None, chunked: bool = False,
                 expect_continue: bool = False, authority: str | None = None) -> None:
        self.method = method
        #: The target in origin form ('/path?query'); an absolute-form target is reduced to it.
        self.target = target
        self.version = version
        self.headers = headers
        #: Declared body length; None for chunked bodies and bodiless requests.
        self.content_length = content_length
        self.chunked = chunked
        #: The client waits for `100 Continue` before sending the body.
        self.expect_continue = expect_continue
        #: Where the request is addressed ('host:port'): the authority of an absolute-form target,
        #: which replaces Host (RFC 9112 3.2.2), else the Host header; None when there is neither.
        self.authority = authority

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

Event: TypeAlias = "Union[RequestHead, bytes, _Marker]"

_NO_HEADERS = Headers()     # a placeholder until the parser attaches the real fields

#: Optional whitespace on the wire (RFC 9110 5.6.3): SP and HTAB only. `str.strip()` without
#: arguments would also remove U+0085 and U+00A0, which are obs-text bytes in a header.
OWS = " \t"

#: The query parameter carrying a private app's launch token (see kali.security).
TOKEN_PARAMETER = "kali_token"

# RFC 9110 token characters: method names, field names, transfer codings.
_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(f"[{_TCHAR}]+\\Z".encode("ascii"))
_TOKEN_S = re.compile(f"[{_TCHAR}]+\\Z")
_VERSION_S = compile_later(r"HTTP/([0-9])\.([0-9])\Z")
# A request target must be visible ASCII only (obs-text is not allowed there).
_BAD_TARGET_S = compile_later(r"[^\x21-\x7e]")
# Control characters other than HTAB, CR and LF are never valid anywhere in a head.
_BAD_HEAD = compile_later(rb"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
_DIGITS = compile_later(r"[0-9]{1,18}\Z")
# RFC 9112 3: a method longer than any the server implements gets a 501. No registered method
# comes near this; it also bounds how long the parser waits for the first space.
_MAX_METHOD = 64
# The parser's default limits: the request line, the whole head, the number of header fields.
MAX_REQUEST_LINE = 8190
MAX_HEADER_BYTES = 65536
MAX_HEADERS = 100

# Targets other than origin form (RFC 9112 3.2) and the Host field (RFC 9110 7.2, RFC 3986 3.2.2).
_ABSOLUTE = compile_later(r"[Hh][Tt][Tt][Pp][Ss]?://([^/?#]*)([/?][^#]*)?\Z")
_HOST = re.compile(r"(?:\[([0-9A-Fa-f:.]+|[Vv][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]"
                   r"|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(:[0-9]*)?\Z")

# Chunked framing (RFC 9112 7.1): every line ends in CRLF; extensions follow the grammar exactly,
# so an LF inside a quoted extension value cannot end the size line somewhere else than a peer would.
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_TOKEN_B = f"[{_TCHAR}]+".encode("ascii")
_CHUNK_LINE = compile_later(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[ \t]*" + _TOKEN_B + rb"(?:[ \t]*=[ \t]*(?:"
                            + _TOKEN_B + rb"|" + _QUOTED + rb"))?)*\r\Z")
_TRAILER_LINE = compile_later(_TOKEN_B + rb":[ \t]*(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?"
                              rb"[ \t]*\r\Z")

# A whole head of the fast path (as Latin-1 text): a method, an origin-form target, HTTP/1.0 or
# 1.1, then field lines `token:value` whose values hold no control character but HTAB, each
# ending in CRLF, then the empty line. Linear: no two parts can match the same character.
_COMMON_HEAD = re.compile(f"([{_TCHAR}]{{1,{_MAX_METHOD}}}) (/[\\x21-\\x7e]*) (HTTP/1\\.[01])\\r\\n"
                          f"(?:[{_TCHAR}]+:[\\t\\x20-\\x7e\\x80-\\xff]*\\r\\n)*\\r\\n")

# The states of a BodyReader.
_BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _DONE = range(6)


class RequestParser:
    """Turns the bytes of one HTTP/1.x request into head, body and end events.

    The answer never depends on how the bytes were split: a check made on a partial
    head refuses only what every completion of those bytes would refuse with the same
    error, and a complete head runs those same checks first.
    """

    __slots__ = ("max_request_line", "max_header_bytes", "max_headers", "max_body_size", "_buf", "_body",
                 "_scan_from", "_line", "_content_length_text", "head")

    # Tests turn this off to prove the general path gives what the fast path gives.
    _fast_path = True

    def __init__(self, *, max_request_line: int = MAX_REQUEST_LINE, max_header_bytes: int = MAX_HEADER_BYTES,
                 max_headers: int = MAX_HEADERS, max_body_size: int | None = None) -> None:
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body_size = max_body_size
        self._buf = bytearray()
        self._body: BodyReader | None = None     # set once the head is read
        self._scan_from = 0          # where the search for the end of the head resumes
        self._line: tuple[str, str, str, str | None] | None = None    # the checked request line
        self._content_length_text: str | None = None
        self.head: RequestHead | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Add received bytes; after END they are ignored (one request per connection)."""
        body = self._body
        if body is None or body.state != _DONE:
            self._buf += data

    def next_event(self) -> Event:
        """The next event, or NEED_DATA; raises ProtocolError for a bad request."""
        body = self._body
        if body is None:
            return self._parse_head()
        return body.next_event()

    # -- head ----------------------------------------------------------------

    def _parse_head(self) -> Event:
        buf = self._buf
        if not buf:
            return NEED_DATA
        first = buf[0]
        if first == 13 or first == 10:
            # Tolerate the empty lines some clients send before a request (RFC 9112 2.2).
            while buf[:2] == b"\r\n" or buf[:1] == b"\n":
                del buf[:2 if buf[:1] == b"\r" else 1]
            if not buf:
                return NEED_DATA
        start = self._scan_from
        if self._fast_path:
            # The usual head ends at its first CRLF CRLF; the fast path refuses (returns None for)
            # any head with a bare LF, so an earlier end the general search would find cannot hide.
            end = buf.find(b"\r\n\r\n", start)
            if end >= 0:
                size = end + 4
                raw = bytes(buf) if size == len(buf) else bytes(buf[:size])
                head = self._fast_head(raw)
                if head is not None:
                    del buf[:size]
                    self._scan_from = 0
                    self.head = head
                    return head
        end = buf.find(b"\n\r\n", start)
        lf = buf.find(b"\n\n", start, end + 1 if end >= 0 else len(buf))
        if lf >= 0:
            size = lf + 2
        elif end >= 0:
            size = end + 3
        else:
            self._check_start(buf)
            self._scan_from = max(0, len(buf) - 3)
            return NEED_DATA
        raw = bytes(buf[:size])
        del buf[:size]
        self._scan_from = 0
        head = self._general_head(raw)
        self.head = head
        return head

    def _check_start(self, data: bytes | bytearray) -> None:
        """Refuse a head whose first bytes already decide it: same verdict for any later bytes."""
        if data[:1] == b"\x16":
            raise ProtocolError(400, "This is a plain HTTP server: use http://, not https://.")
        if data == b"\r":
            return      # the first half of an empty line before the request, split from its LF
        space = data.find(b" ", 0, _MAX_METHOD + 1)
        method = data[:space] if space >= 0 else data[:_MAX_METHOD + 1]
        if not _TOKEN.match(method):
            raise ProtocolError(400, "The request method is malformed.")
        if len(method) > _MAX_METHOD:
            raise ProtocolError(501, "The request method is longer than any this server implements.")
        limit = self.max_request_line
        lf = data.find(b"\n", 0, limit + 2)
        if lf < 0:
            if len(data) >= limit + 2:
                raise ProtocolError(414, "The request line is too long.")
        elif self._line is None:
            length = lf - 1 if data[lf - 1] == 13 else lf
            if length > limit:
                raise ProtocolError(414, "The request line is too long.")
            self._line = _check_request_line(data[:length].decode("latin-1"))
        if len(data) > self.max_header_bytes:
            raise ProtocolError(431, "The request header section is too large.")

    def _fast_head(self, raw: bytes) -> RequestHead | None:
        """The head of a well-formed common request, or None to take the general path.

        Whole-head checks run as C-level byte operations; only the request line and the
        fields that frame the body are picked out here, the rest when first read.
        """
        found = _common_head(raw, self.max_request_line, self.max_header_bytes, self.max_headers)
        if found is None:
            return None
        method, target, version, text, eol, fields = found
        end = len(text) - 2
        host = None
        at = fields.find("\r\nhost:")
        if at >= 0:
            if fields.find("\r\nhost:", at + 7) < 0:
                at += eol + 7
                host = [text[at:text.find("\r\n", at)].strip(OWS)]
            else:
                host = _values_of(text, fields, eol, "\r\nhost:")
        te = cl = expect = None
        if "\r\ntransfer-encoding:" in fields:
            te = _values_of(text, fields, eol, "\r\ntransfer-encoding:")
        if "\r\ncontent-length:" in fields:
            cl = _values_of(text, fields, eol, "\r\ncontent-length:")
        if (te or cl) and "\r\nexpect:" in fields:
            expect = _values_of(text, fields, eol, "\r\nexpect:")
        head = self._frame(method, target, version, host, te, cl, expect, None)
        head.headers = Headers._from_lines(text[eol + 2:end - 2], self._content_length_text, head.chunked)
        return head

    def _general_head(self, raw: bytes) -> RequestHead:
        # The checks a partial head gets come first, so a head split anywhere meets them in
        # the same order as one that arrives whole.
        self._check_start(raw)
        line = self._line
        assert line is not None
        method, target, version, authority = line
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
        del lines[-2:]          # the empty line that ends the head
        if len(lines) - 1 > self.max_headers:
            raise ProtocolError(431, "The request has too many header fields.")
        items: list[tuple[str, str]] = []
        token = _TOKEN_S.match
        for hline in lines[1:]:
            name, colon, value = hline.partition(":")
            if not colon or not token(name):
                if hline[:1] in (" ", "\t"):
                    raise ProtocolError(400, "Folded header lines (obs-fold) are not accepted.")
                raise ProtocolError(400, "A header line is malformed.")
            items.append((name, value.strip(OWS)))

        def values(key: str) -> list[str] | None:
            found = [v for n, v in items if n.lower() == key]
            return found or None

        te, cl = values("transfer-encoding"), values("content-length")
        head = self._frame(method, target, version, values("host"), te, cl,
                           values("expect") if te or cl else None, authority)
        head.headers = Headers._from_parsed(items, _first_values(items, self._content_length_text, head.chunked))
        return head

    def _frame(self, method: str, target: str, version: str, host: list[str] | None, te: list[str] | None,
               cl: list[str] | None, expect: list[str] | None, authority: str | None) -> RequestHead:
        """Check Host and the fields that frame the body (their values in order); both paths end here."""
        http10 = version == "HTTP/1.0"
        if host is not None:
            if len(host) > 1:
                raise ProtocolError(400, "The request has more than one Host header.")
            if not _valid_authority(host[0]):
                raise ProtocolError(400, "The Host header is malformed.")
            if authority is None:
                authority = host[0]
        elif not http10:
            raise ProtocolError(400, "An HTTP/1.1 request must have a Host header.")
        head = RequestHead(method, target, version, _NO_HEADERS, None, False, False, authority)
        self._content_length_text = None
        limits = self.max_body_size, self.max_header_bytes
        if te is not None:
            if cl is not None:
                raise ProtocolError(400, "A request may not have both Content-Length and Transfer-Encoding.")
            if http10:
                raise ProtocolError(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request.")
            codings = [c.strip(OWS).lower() for value in te for c in value.split(",")]
            codings = [c for c in codings if c]
            for coding in codings:
                if not _TOKEN_S.match(coding):
                    raise ProtocolError(400, "The Transfer-Encoding header is malformed.")
                if coding != "chunked":
                    raise ProtocolError(501, f"Transfer-Encoding {coding!r} is not supported.")
            if len(codings) != 1:
                raise ProtocolError(400, "The Transfer-Encoding header is malformed.")
            head.chunked = True
            self._body = BodyReader(self._buf, None, *limits)
        elif cl is not None:
            lengths = {v.strip(OWS) for value in cl for v in value.split(",")}
            if len(lengths) != 1:
                raise ProtocolError(400, "The request has conflicting Content-Length values.")
            text = lengths.pop()
            if not _DIGITS.match(text):
                raise ProtocolError(400, "The Content-Length header is not a number.")
            length = int(text)
            if self.max_body_size is not None and length > self.max_body_size:
                raise ProtocolError(413, f"The request body is larger than {self.max_body_size} bytes.")
            head.content_length = length
            self._content_length_text = text
            self._body = BodyReader(self._buf, length, *limits)
        else:
            self._body = BodyReader(self._buf, 0, *limits)
        if not http10 and expect is not None and head.has_body:
            head.expect_continue = expect[0].lower() == "100-continue"
        return head


class BodyReader:
    """Takes one request's body out of the parser's buffer: Content-Length bytes, or chunked framing.

    Apart from RequestParser so the head's rules and the body's framing (RFC 9112 6.3,
    7.1) each read on their own; it shares the parser's buffer, so the bytes after the
    head are never copied.
    """

    __slots__ = ("state", "_buf", "_remaining", "_body_seen", "_trailer_bytes", "max_body_size",
                 "max_trailer_bytes")

    def __init__(self, buf: bytearray, length: int | None, max_body_size: int | None,
                 max_trailer_bytes: int) -> None:
        """A body of `length` bytes, or a chunked one when `length` is None."""
        self._buf = buf
        self.state = _CHUNK_SIZE if length is None else _BODY if length else _DONE
        self._remaining = length or 0   # body bytes (or the current chunk's bytes) still to come
        self._body_seen = 0             # decoded bytes of a chunked body so far, for the size limit
        self._trailer_bytes = 0
        self.max_body_size = max_body_size
        self.max_trailer_bytes = max_trailer_bytes

    def next_event(self) -> Event:
        """The next piece of the body, END, or NEED_DATA; raises ProtocolError for bad framing."""
        state = self.state
        if state == _BODY:
            return self._next_body_bytes()
        if state == _DONE:
            return END
        return self._next_chunked()

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
            self.state = _DONE
        return data

    def _read_line(self, limit: int, what: str) -> bytes | None:
        """The next line up to its LF (the CR kept), None until it is complete."""
        buf = self._buf
        lf = buf.find(b"\n", 0, limit + 2)
        if lf < 0:
            if len(buf) >= limit + 2:
                raise ProtocolError(400, f"The {what} line is too long.")
            return None
        line = bytes(buf[:lf])
        del buf[:lf + 1]
        if line[-1:] != b"\r":
            # RFC 9112 7.1: the bare-LF allowance covers the start line and fields, not chunk framing.
            raise ProtocolError(400, f"A {what} line does not end with CRLF.")
        return line

    def _next_chunked(self) -> Event:
        while True:
            state = self.state
            if state == _CHUNK_SIZE:
                line = self._read_line(4096, "chunk size")
                if line is None:
                    return NEED_DATA
                m = _CHUNK_LINE.match(line)
                if m is None:
                    raise ProtocolError(400, "A chunk size line is malformed.")
                size = int(m.group(1), 16)
                if size == 0:
                    self.state = _TRAILERS
                    continue
                self._body_seen += size
                if self.max_body_size is not None and self._body_seen > self.max_body_size:
                    raise ProtocolError(413, f"The request body is larger than {self.max_body_size} bytes.")
                self._remaining = size
                self.state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                if not self._buf:
                    return NEED_DATA
                data = self._take_remaining()
                if not self._remaining:
                    self.state = _CHUNK_CRLF
                return data
            elif state == _CHUNK_CRLF:
                buf = self._buf
                if buf[:2] == b"\r\n":
                    del buf[:2]
                elif not buf or buf == b"\r":
                    return NEED_DATA
                else:
                    raise ProtocolError(400, "A chunk is not followed by CRLF.")
                self.state = _CHUNK_SIZE
            elif state == _TRAILERS:
                line = self._read_line(8190, "trailer")
                if line is None:
                    return NEED_DATA
                if line == b"\r":
                    self.state = _DONE
                    return END
                self._trailer_bytes += len(line) + 1
                if self._trailer_bytes > self.max_trailer_bytes:
                    raise ProtocolError(431, "The request trailer section is too large.")
                if not _TRAILER_LINE.match(line):
                    raise ProtocolError(400, "A trailer line is malformed.")
            else:
                return END



def _common_head(raw: bytes, max_request_line: int, max_header_bytes: int,
                 max_headers: int) -> tuple[str, str, str, str, int, str] | None:
    """(method, target, version, the head as text, where the request line ends, the field lines
    lower-cased) of a complete head in the common form, or None for the general path to judge."""
    if len(raw) > max_header_bytes:
        return None
    text = raw.decode("latin-1")
    # One C call checks every byte: no control character but HTAB, no bare CR or LF, every field
    # line `token:`. The general path says which rule a head broke.
    head = _COMMON_HEAD.fullmatch(text)
    if head is None:
        return None
    method, target, version = head.groups()
    eol = head.end(3)
    if eol > max_request_line or method == "CONNECT":
        return None
    # '\r\nname: value\r\n...', for finding names fast; a field line takes at least 4 characters.
    fields = text[eol:-2].lower()
    if len(fields) > 4 * max_headers and fields.count("\r\n") - 1 > max_headers:
        return None
    return method, target, version, text, eol, fields


def whole_head_parts(data: bytes) -> tuple[str, str, str, Headers, str | None] | None:
    """The head of `data` as (method, target, version, headers, authority) if it is exactly one
    request without a body, in the common form the parser reads on its fast path, with a valid
    Host or none (HTTP/1.0); else None.

    What it returns is what a `RequestParser` fed `data` gives, from the same checks: it
    only spares a connection whose whole request came in one piece the parser's state (and
    the server's straight line a RequestHead: it builds the Request from these at once).
    Anything else (a body, a second Host, a malformed one...) is for the parser to answer.
    """
    # An empty line before the end (a body, a second request) fails the check of the field
    # lines, and empty lines before the request (the parser skips them) the request line's.
    if not data.endswith(b"\r\n\r\n") or not RequestParser._fast_path:
        return None
    found = _common_head(data, MAX_REQUEST_LINE, MAX_HEADER_BYTES, MAX_HEADERS)
    if found is None:
        return None
    method, target, version, text, eol, fields = found
    if "\r\ncontent-length:" in fields or "\r\ntransfer-encoding:" in fields:
        return None
    at = fields.find("\r\nhost:")
    if at < 0:
        if version != "HTTP/1.0":
            return None
        authority = None
    else:
        if fields.find("\r\nhost:", at + 7) >= 0:
            return None
        at += eol + 7
        authority = text[at:text.find("\r\n", at)].strip(OWS)
        if not _valid_authority(authority):
            return None
    return method, target, version, Headers._from_lines(text[eol + 2:-4], None, False), authority


def _first_values(items: list[tuple[str, str]], content_length: str | None, chunked: bool) -> dict[str, str]:
    """Lower-cased name -> first value, with the framing fields as the parser understood them."""
    first = {name.lower(): value for name, value in reversed(items)}
    if content_length is not None:
        first["content-length"] = content_length       # '5, 5' or two equal fields: '5'
    if chunked:
        first["transfer-encoding"] = "chunked"
    return first


def _values_of(text: str, fields: str, offset: int, key: str) -> list[str] | None:
    """The stripped values of every field `key` ('\\r\\nname:') in the lower-cased `fields` of `text`."""
    i = fields.find(key)
    if i < 0:
        return None
    found = []
    while i >= 0:
        start = offset + i + len(key)
        end = text.find("\r\n", start)
        found.append(text[start:end].strip(OWS))
        i = fields.find(key, end - offset)
    return found


def _check_request_line(line: str) -> tuple[str, str, str, str | None]:
    """(method, origin-form target, version, authority of an absolute-form target) of a request line."""
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
    if method == "CONNECT":
        # A request to open a tunnel through a proxy: not a malformed request, but not a thing a
        # web app server does (RFC 9110 9.1: 501 for a method the server does not implement).
        raise ProtocolError(501, "CONNECT is not supported: this is a web app, not a proxy.")
    if target[0] == "/":
        return method, target, version, None
    if target == "*":
        if method != "OPTIONS":
            raise ProtocolError(400, "The request target '*' is only allowed with OPTIONS.")
        return method, target, version, None
    authority, path = split_absolute_target(target)
    return method, path, version, authority


def split_absolute_target(target: str) -> tuple[str, str]:
    """(authority, '/path?query') of an absolute-form target like 'http://host:8080/p?q'; 400 if malformed."""
    m = _ABSOLUTE.match(target)
    if m is None:
        raise ProtocolError(400, "The request target is malformed.")
    authority = m.group(1)
    if "@" in authority:
        # RFC 9110 4.2.4: userinfo in an http(s) URI is deprecated; treat it as an error.
        raise ProtocolError(400, "The request target contains user information, which is not accepted.")
    if not authority or authority[0] == ":" or not _valid_authority(authority):
        raise ProtocolError(400, "The request target's host is malformed.")
    path = m.group(2) or "/"
    return authority, path if path[0] == "/" else "/" + path


_valid_authorities: dict[str, bool] = {}


def _valid_authority(value: str) -> bool:
    """Whether `value` is `host[:port]` as RFC 3986 writes it (an empty value is valid for Host)."""
    # A browser sends the same Host on every request: remember the answer for a few values.
    known = _valid_authorities.get(value)
    if known is None:
        if len(_valid_authorities) >= 64:
            _valid_authorities.clear()
        known = _valid_authorities[value] = _check_authority(value)
    return known


def _check_authority(value: str) -> bool:
    m = _HOST.match(value)
    if m is None:
        return False
    literal = m.group(1)
    if literal is not None and literal[0] not in "vV":
        import ipaddress     # only for IPv6 literals, so a hello request does not pay for the import
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
    return True


def redact_target(target: str) -> str:
    """A request target fit for a log: a launch token in its query is replaced by '...'."""
    q = target.find("?")
    if q < 0 or (TOKEN_PARAMETER not in target and "%" not in target):
        return target
    from urllib.parse import unquote
    parts = target[q + 1:].split("&")
    for i, part in enumerate(parts):
        key, eq, _ = part.partition("=")
        if eq and unquote(key.replace("+", " ")) == TOKEN_PARAMETER:
            parts[i] = key + "=..."
    return target[:q + 1] + "&".join(parts)


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


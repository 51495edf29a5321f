"""kali's parser against an outside reference, h11, over the request corpus.

Both must agree on whether a request is accepted (and, when it is, on its method,
target, fields and body) unless the case is listed below with the reason kali
decides otherwise on purpose. A listed case that stops disagreeing fails too,
so the list cannot go stale.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import h11
import pytest

from kali.http import END, NEED_DATA, ProtocolError, RequestHead, RequestParser

from request_corpus import corpus

# RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line
# (old clients send a CRLF after a POST body). h11 answers "no request line received".
LEADING_EMPTY_LINES = ["leading CRLF", "leading CRLFs and LF"]

# RFC 9112 3: a method longer than any the server implements gets 501 (kali's limit: 64
# characters, far above any registered method). h11 has no limit.
LONG_METHODS = ["method b'MMMMMMMMMMMMMMMMMMMM'65", "method b'MMMMMMMMMMMMMMMMMMMM'200"]

# RFC 9112 3.2: each target form belongs to certain methods; an absolute-form target must be
# an http(s) URI with a valid, non-empty host and no userinfo (RFC 9110 4.2.1, 4.2.4), and its
# authority replaces Host, so kali checks it. h11 accepts any visible-ASCII target.
TARGET_FORMS = [
    "target b'*'", "target b'nopath'", "target b'http://[::'", "target b'http://'", "target b'http:///x'",
    "target b'http://u@h/'", "target b'http://u:p@h/'", "target b'http://h:port/'", "target b'ftp://h/x'",
    "target b'http://h#f'", "target b'http://h/#f'", "target b'http://[::g]/'", "target b'http://h%4/'",
    "target b'http:/h/x'", "target b'http:h'", "target b'example.com:443'", "target b'127.0.0.1:8080'",
    "target b'http://[fe80::1%25eth0]/'", "target b'http://[x]/'",
]

# CONNECT asks for a tunnel; kali is an origin server, not a proxy: 501 (RFC 9110 9.1).
CONNECT = ["CONNECT authority", "CONNECT origin form", "CONNECT bad target"]

# kali speaks HTTP/1.x only and says so with 505; h11 parses any "HTTP/d.d" request line.
OTHER_VERSIONS = ["version b'HTTP/2.0'", "version b'HTTP/3.0'", "version b'HTTP/0.9'",
                  "request line b'PRI * HTTP/2.0'", "HTTP/2 preface"]

# kali's limits: a request line of 8190 bytes (414) and 100 fields (431); h11 has neither.
LIMITS = ["request line one over the limit", "request line far over the limit", "100 fields and Host"]

# RFC 9110 5.5: a field value never holds a control character other than HTAB; h11 lets
# through everything but NUL, CR and LF.
CONTROLS = ["field b'X: a\\x01b'", "field b'X: a\\x7fb'"]

# RFC 9112 5.2: a server may reject obs-fold with 400 instead of unfolding it, which h11 does.
OBS_FOLD = ["field b' X: y'", "field b'X: y\\r\\n z'", "field b'X: y\\r\\n\\tz'"]

# RFC 9112 3.2: a Host field with an invalid value is a 400; h11 does not check its syntax.
HOST_SYNTAX = [f"{version}Host {value!r}" for version in ("", "HTTP/1.0 ") for value in
               [b"a b", b"a/b", b"a@b", b"h:x", b"[::1", b"h\xa0", b"\x85h", b"h%2", b"[::g]:80", b"h:80:80", b'"h"']]

# kali accepts at most 18 Content-Length digits (an exabyte); h11 accepts 20 and waits for the body.
LONG_LENGTH = ["Content-Length b'9999999999999999999'"]

# RFC 9110 5.6.1: a recipient accepts empty list elements (",chunked" is "chunked"); h11 refuses.
EMPTY_LIST_ELEMENTS = ["Transfer-Encoding b',chunked'", "Transfer-Encoding b'chunked,'"]

# RFC 9112 6.1/6.3: Transfer-Encoding with Content-Length, or in an HTTP/1.0 request, is a
# smuggling shape a server ought to refuse; h11 lets Transfer-Encoding win.
FRAMING_CONFLICTS = ["Transfer-Encoding and Content-Length", "Transfer-Encoding on HTTP/1.0"]

# RFC 9112 7.1.1: chunk extensions follow `*( BWS ";" BWS name [ BWS "=" BWS value ] )` exactly
# (h11 accepts ';' and anything after it, but not the BWS the grammar allows), and a chunk size
# line has no whitespace after the size unless an extension follows.
CHUNK_EXTENSIONS = [
    "chunked b'5 ; a = b\\r\\nhello\\r\\n0\\r\\n\\r\\n'", "chunked b'5;\\r\\nhello\\r\\n0\\r\\n\\r\\n'",
    "chunked b'5;=x\\r\\nhello\\r\\n0\\r\\n\\r\\n'", "chunked b'5;a=\"open\\r\\nhello\\r\\n0\\r\\n\\r\\n'",
    "chunked b'5;a=x y\\r\\nhello\\r\\n0\\r\\n\\r\\n'", "chunked b'5;a=\\xe9\\r\\nhello\\r\\n0\\r\\n\\r\\n'",
    "chunked b'5;a=\"\\x01\"\\r\\nhello\\r\\n0\\r\\n\\r\\n'", "chunked b'5 \\r\\nhello\\r\\n0\\r\\n\\r\\n'",
    "chunked b'5;a=b\\rc\\r\\nhello\\r\\n0\\r\\n\\r\\n'",
]

# kali's chunk size is at most 16 hex digits; h11 takes 20 and waits for the data.
LONG_CHUNK_SIZE = ["chunked b'12345678901234567\\r\\nx\\r\\n'"]

# RFC 9112 7.1.2: trailer lines are field lines ending in CRLF (the bare-LF allowance covers
# the start line and fields of the head only), without obs-fold or control characters.
TRAILERS = ["chunked b'5\\r\\nhello\\r\\n0\\r\\n\\n'", "chunked b'5\\r\\nhello\\r\\n0\\r\\nX: y\\n\\r\\n'",
            "chunked b'5\\r\\nhello\\r\\n0\\r\\nX: y\\r\\n z\\r\\n\\r\\n'",
            "chunked b'5\\r\\nhello\\r\\n0\\r\\nX: a\\x01b\\r\\n\\r\\n'"]

#: Cases where kali and h11 are expected to give different verdicts, by reason (above).
VERDICT_DIFFERENCES = set(LEADING_EMPTY_LINES + LONG_METHODS + TARGET_FORMS + CONNECT + OTHER_VERSIONS + LIMITS
                          + CONTROLS + OBS_FOLD + HOST_SYNTAX + LONG_LENGTH + EMPTY_LIST_ELEMENTS
                          + FRAMING_CONFLICTS + CHUNK_EXTENSIONS + LONG_CHUNK_SIZE + TRAILERS)

#: Accepted by both, with a detail that differs on purpose.
DETAIL_DIFFERENCES = {
    # h11 keeps one of two equal Content-Length fields; kali keeps the fields as received
    # (and headers['content-length'] gives the one value both frame the body by).
    "two equal Content-Length",
}

CORPUS = corpus()


def kali_verdict(raw: bytes) -> tuple[object, ...]:
    """('ok', method, target, fields, body) | ('error', status) | ('incomplete',) from kali's parser."""
    parser = RequestParser()
    parser.feed(raw)
    head = None
    body = b""
    try:
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                return ("incomplete",)
            if event is END:
                break
            if isinstance(event, RequestHead):
                head = event
            else:
                assert isinstance(event, bytes)
                body += event
    except ProtocolError as exc:
        return ("error", exc.status)
    assert head is not None
    # h11 reports names lower-cased and the framing fields as it understood them.
    fields = [(name.lower(), head.headers[name] if name.lower() in ("content-length", "transfer-encoding")
               else value) for name, value in head.headers.items()]
    target = head.target if head.authority is None or head.headers.get("host") == head.authority else \
        (head.authority, head.target)
    return ("ok", head.method, target, fields, body)


def h11_verdict(raw: bytes) -> tuple[object, ...]:
    """The same from h11, an absolute-form target reduced the way RFC 9112 3.2.2 says."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(raw)
    request = None
    body = b""
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                return ("incomplete",)
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"unexpected h11 event {event!r}")
    except h11.RemoteProtocolError as exc:
        return ("error", exc.error_status_hint)
    assert request is not None
    fields = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
    target = request.target.decode("ascii")
    if not target.startswith("/") and target != "*":
        try:
            parts = urlsplit(target)
        except ValueError:      # not a URL at all: kali refuses these (see TARGET_FORMS)
            return ("ok", request.method.decode("ascii"), target, fields, body)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query or target.endswith("?") else "")
        host = dict(fields).get("host")
        target = path if host == parts.netloc else (parts.netloc, path)   # type: ignore[assignment]
    return ("ok", request.method.decode("ascii"), target, fields, body)


def test_the_allow_lists_name_only_corpus_cases() -> None:
    names = {name for name, _ in CORPUS}
    assert VERDICT_DIFFERENCES <= names, sorted(VERDICT_DIFFERENCES - names)
    assert DETAIL_DIFFERENCES <= names
    assert len(CORPUS) - len(VERDICT_DIFFERENCES) >= 200        # most of the corpus is agreed on


@pytest.mark.parametrize("name, raw", CORPUS, ids=[name for name, _ in CORPUS])
def test_kali_and_h11_agree(name: str, raw: bytes) -> None:
    ours, theirs = kali_verdict(raw), h11_verdict(raw)
    if name in VERDICT_DIFFERENCES:
        assert ours[0] != theirs[0], f"kali and h11 now agree on {name!r}: take it off the list"
    elif name in DETAIL_DIFFERENCES:
        assert ours[0] == theirs[0] == "ok" and ours != theirs
    else:
        assert ours[0] == theirs[0]
        if ours[0] == "ok":
            assert ours == theirs

"""A corpus of hostile and broken requests sent to a live server.

Every case must end in a 4xx/5xx answer or a plain close, and the server must then
serve an ordinary request at once: nothing a client sends can wedge or kill it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from support import exchange, get, parse_response, running_server

MAX_BODY = 100_000


def strict_handler(request: Any) -> Any:
    # Touch every lazily decoded part, so malformed paths, queries and bodies surface as 4xx.
    request.path
    request.segments
    dict(request.GET)
    if request.method == "POST":
        if request.content_type == "application/json":
            request.json()
        else:
            dict(request.POST)
            dict(request.files)
    return "ok"


H = b"Host: 127.0.0.1\r\n"

# (name, bytes to send, expected status or None for "closed without a reply", close write side after sending)
CASES: list[tuple[str, bytes, int | None, bool]] = [
    ("nothing then close", b"", None, True),
    ("binary garbage", bytes(range(256)) * 4, 400, False),
    ("TLS ClientHello on plain HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, 400, False),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, False),
    ("HTTP/3.0 version", b"GET / HTTP/3.0\r\n" + H + b"\r\n", 505, False),
    ("HTTP/0.9 simple request", b"GET /\r\n\r\n", 400, False),
    ("lower-case version", b"GET / http/1.1\r\n" + H + b"\r\n", 400, False),
    ("request line 100 kB", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, False),
    ("header 100 kB", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 100_000 + b"\r\n\r\n", 431, False),
    ("200 header fields", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431, False),
    ("Content-Length and Transfer-Encoding", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, False),
    ("conflicting Content-Length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, False),
    ("Content-Length list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!", 400, False),
    ("negative Content-Length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400, False),
    ("non-numeric Content-Length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: five\r\n\r\n", 400, False),
    ("huge Content-Length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999\r\n\r\n", 400, False),
    ("Transfer-Encoding gzip", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 501, False),
    ("Transfer-Encoding in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, False),
    ("doubled chunked coding", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, False),
    ("chunk size not hex", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nxyz\r\n", 400, False),
    ("chunk size overflow", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400, False),
    ("chunk without CRLF", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef", 400, False),
    ("chunk extension with NUL", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3;a=\x00\r\nabc\r\n0\r\n\r\n", 400, False),
    ("folded trailer", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400, False),
    ("NUL in header value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", 400, False),
    ("bare CR in header value", b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", 400, False),
    ("DEL in header value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x7f\r\n\r\n", 400, False),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n\tb\r\n\r\n", 400, False),
    ("space before colon", b"GET / HTTP/1.1\r\n" + H + b"Content-Length : 0\r\n\r\n", 400, False),
    ("header without colon", b"GET / HTTP/1.1\r\n" + H + b"Nonsense\r\n\r\n", 400, False),
    ("empty header name", b"GET / HTTP/1.1\r\n" + H + b": x\r\n\r\n", 400, False),
    ("non-token header name", b"GET / HTTP/1.1\r\n" + H + b"X(Y): 1\r\n\r\n", 400, False),
    ("bad method characters", b"G\x01T / HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("tab in request line", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("NUL in request target", b"GET /\x00 HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("space in target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("non-ASCII target bytes", b"GET /\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("target without slash", b"GET index.html HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("ftp absolute target", b"GET ftp://x/ HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", 400, False),
    ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, False),
    ("body over the limit (Content-Length)", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1) + b"x" * 5000, 413, False),
    ("body over the limit (chunked)", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + (b"8000\r\n" + b"x" * 0x8000 + b"\r\n") * 4, 413, False),
    ("100-continue over the limit", b"POST / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY * 10), 413, False),
    ("head cut off, then close", b"GET / HTTP/1.1\r\nHost: 127.0", None, True),
    ("body cut off, then close", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 100\r\n\r\nshort", None, True),
    ("empty lines only, then close", b"\r\n" * 1000, None, True),
    ("invalid UTF-8 in the path", b"GET /%ff%fe HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("invalid UTF-8 in the query", b"GET /?a=%ff HTTP/1.1\r\n" + H + b"\r\n", 400, False),
    ("malformed JSON body", b"POST / HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\nContent-Length: 5\r\n\r\n{nope", 400, False),
    ("multipart without boundary", b"POST / HTTP/1.1\r\n" + H + b"Content-Type: multipart/form-data\r\nContent-Length: 4\r\n\r\nxxxx", 400, False),
    ("truncated multipart", b"POST / HTTP/1.1\r\n" + H + b"Content-Type: multipart/form-data; boundary=zz\r\nContent-Length: 40\r\n\r\n--zz\r\nContent-Disposition: form-data; na", 400, False),
    ("non-ASCII urlencoded body", b"POST / HTTP/1.1\r\n" + H + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\n\r\na=\xff\xfe", 400, False),
]


@pytest.fixture(scope="module")
def server() -> Any:
    with running_server(strict_handler, max_body_size=MAX_BODY, request_timeout=1.0, timeout=0.5) as srv:
        yield srv


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize("name,data,expected,shut_write", CASES, ids=[c[0] for c in CASES])
def test_hostile_request_then_a_normal_one(server: Any, name: str, data: bytes, expected: int | None,
                                           shut_write: bool) -> None:
    reply = exchange(server.port, data, shut_write=shut_write)
    # Every case ends with the server closing the connection, never with the client giving up.
    assert reply.closed, f"{name}: the connection was still open after 5 s"
    if expected is None:
        assert reply.data == b"", f"{name}: expected a silent close, got {reply.data[:100]!r}"
    else:
        assert reply.data, f"{name}: the server closed without the expected {expected}"
        status, headers, _ = parse_response(reply.data.split(b"HTTP/1.1 100 Continue\r\n\r\n")[-1])
        assert status == expected, f"{name}: {reply.data[:300]!r}"
        assert headers["connection"] == "close"
        assert headers["content-type"].startswith("text/html")
    started = time.monotonic()
    status, _, body = get(server.port, "/after")
    assert (status, body) == (200, b"ok")
    assert time.monotonic() - started < 1.0


def test_a_stalled_head_gets_408(server: Any) -> None:
    started = time.monotonic()
    reply = exchange(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
    assert reply.closed and parse_response(reply.data)[0] == 408
    assert 0.9 <= time.monotonic() - started < 3.0
    assert get(server.port, "/")[0] == 200

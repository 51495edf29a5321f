"""The sans-IO request parser: every split point, framing rules, smuggling shapes, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kali.http import END, NEED_DATA, Headers, ProtocolError, RequestHead, RequestParser, response_head


def parse_all(data: bytes, splits: list[int] | None = None, **limits: int) -> tuple[RequestHead, bytes]:
    """Feed `data` in pieces (cut at `splits`), return the head and the decoded body."""
    parser = RequestParser(**limits)
    cuts = [0, *(splits or []), len(data)]
    head = None
    body = []
    for a, b in zip(cuts, cuts[1:]):
        parser.feed(data[a:b])
        while True:
            event = parser.next_event()
            if event is NEED_DATA:
                break
            if event is END:
                assert head is not None
                return head, b"".join(body)
            if isinstance(event, RequestHead):
                assert head is None
                head = event
            else:
                body.append(event)
    raise AssertionError("the parser never reached END")


def status_of(data: bytes, **limits: int) -> int:
    """The ProtocolError status the parser raises for `data` (fed whole)."""
    with pytest.raises(ProtocolError) as info:
        parse_all(data, **limits)
    return info.value.status


SIMPLE = b"GET /a/b?x=1 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n"
POST = (b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 11\r\n\r\nhello world")
CHUNKED = (b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n")


@pytest.mark.parametrize("raw,body", [(SIMPLE, b""), (POST, b"hello world"), (CHUNKED, b"hello world")],
                         ids=["get", "content-length", "chunked"])
def test_every_single_split_point(raw: bytes, body: bytes) -> None:
    reference = parse_all(raw)
    assert reference[1] == body
    for cut in range(1, len(raw)):
        head, got = parse_all(raw, [cut])
        assert (head.method, head.target, got) == (reference[0].method, reference[0].target, body), cut


@pytest.mark.parametrize("raw", [SIMPLE, POST, CHUNKED], ids=["get", "content-length", "chunked"])
def test_one_byte_at_a_time(raw: bytes) -> None:
    head, body = parse_all(raw, list(range(1, len(raw))))
    assert head.headers["host"] in ("example", "h")
    assert body in (b"", b"hello world")


def test_request_line_and_headers() -> None:
    head, _ = parse_all(SIMPLE)
    assert (head.method, head.target, head.version) == ("GET", "/a/b?x=1", "HTTP/1.1")
    assert head.headers["HOST"] == "example"
    assert head.headers.get("accept") == "*/*"
    assert head.content_length is None and not head.chunked and not head.has_body


def test_header_without_space_and_with_extra_whitespace() -> None:
    head, _ = parse_all(b"GET / HTTP/1.0\r\nX-A:1\r\nX-B: \t 2 \t\r\n\r\n")
    assert head.headers["x-a"] == "1"
    assert head.headers["x-b"] == "2"


def test_repeated_headers_are_kept_in_order() -> None:
    head, _ = parse_all(b"GET / HTTP/1.0\r\nCookie: a=1\r\nX: y\r\ncookie: b=2\r\n\r\n")
    assert head.headers.get_all("Cookie") == ["a=1", "b=2"]
    assert head.headers["cookie"] == "a=1"
    assert list(head.headers) == ["Cookie", "X", "cookie"]


def test_bare_lf_line_endings_are_tolerated() -> None:
    head, body = parse_all(b"POST /x HTTP/1.0\nContent-Length: 2\nX: y\n\nok")
    assert head.headers["x"] == "y"
    assert body == b"ok"


def test_leading_empty_lines_are_ignored() -> None:
    head, _ = parse_all(b"\r\n\r\nGET / HTTP/1.0\r\n\r\n")
    assert head.target == "/"


def test_leading_empty_lines_are_ignored_at_every_split_point() -> None:
    # RFC 9112 2.2: a server should ignore empty lines before the request line.  Split between
    # the CR and the LF, the lone CR must not be refused as a bad method.
    data = b"\r\n\r\nGET /x HTTP/1.0\r\n\r\n"
    for cut in range(1, len(data)):
        assert parse_all(data, [cut])[0].target == "/x", cut
    assert parse_all(data, list(range(1, len(data))))[0].target == "/x"
    # A CR that is not followed by LF is still garbage.
    with pytest.raises(ProtocolError) as info:
        parse_all(b"\rGET / HTTP/1.0\r\n\r\n", [1])
    assert info.value.status == 400


def test_http10_without_host_is_fine_but_http11_needs_one() -> None:
    assert parse_all(b"GET / HTTP/1.0\r\n\r\n")[0].version == "HTTP/1.0"
    assert status_of(b"GET / HTTP/1.1\r\n\r\n") == 400
    assert status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400


def test_absolute_form_target_becomes_a_path() -> None:
    head, _ = parse_all(b"GET http://127.0.0.1:8080/p/q?z=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
    assert head.target == "/p/q?z=1"
    head, _ = parse_all(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
    assert head.target == "*"


def test_chunked_body_with_extensions_and_trailers() -> None:
    head, body = parse_all(CHUNKED)
    assert head.chunked and head.content_length is None
    assert body == b"hello world"


def test_chunked_with_bare_lf() -> None:
    raw = b"POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"
    assert parse_all(raw)[1] == b"abc"


def test_identical_repeated_content_length_is_accepted() -> None:
    raw = b"POST / HTTP/1.0\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    assert parse_all(raw)[1] == b"ok"


def test_expect_100_continue_is_reported() -> None:
    parser = RequestParser()
    parser.feed(b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    head = parser.next_event()
    assert isinstance(head, RequestHead) and head.expect_continue
    assert parser.next_event() is NEED_DATA
    parser.feed(b"abc")
    assert parser.next_event() == b"abc"
    assert parser.next_event() is END


def test_expect_is_ignored_without_a_body_or_on_http10() -> None:
    head, _ = parse_all(b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n")
    assert not head.expect_continue
    head, _ = parse_all(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
    assert not head.expect_continue


def test_bytes_after_the_request_are_ignored() -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.0\r\n\r\nGET /second HTTP/1.0\r\n\r\n")
    assert isinstance(parser.next_event(), RequestHead)
    assert parser.next_event() is END
    parser.feed(b"more")
    assert parser.next_event() is END


@pytest.mark.parametrize("raw,status", [
    (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400),
    (b"POST / HTTP/1.0\r\nContent-Length: 3, 4\r\n\r\nabc", 400),
    (b"POST / HTTP/1.0\r\nContent-Length: -3\r\n\r\nabc", 400),
    (b"POST / HTTP/1.0\r\nContent-Length: 0x10\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nContent-Length: +3\r\n\r\nabc", 400),
    (b"POST / HTTP/1.0\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n12345678901234567\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nno colon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX\x01Y: a\r\n\r\n", 400),
    (b"GET /\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET nopath HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400),
    (b"GET / http/1.1\r\nHost: h\r\n\r\n", 400),
], ids=lambda v: repr(v)[:40] if isinstance(v, bytes) else str(v))
def test_malformed_and_smuggling_shapes_are_refused(raw: bytes, status: int) -> None:
    assert status_of(raw) == status


def test_limits_give_414_431_413() -> None:
    assert status_of(b"GET /" + b"a" * 9000 + b" HTTP/1.0\r\n\r\n") == 414
    # The request line limit applies before the line is complete, too.
    parser = RequestParser()
    parser.feed(b"GET /" + b"a" * 9000)
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert info.value.status == 414
    assert status_of(b"GET / HTTP/1.0\r\nX: " + b"a" * 70000 + b"\r\n\r\n") == 431
    many = b"".join(b"X-%d: y\r\n" % i for i in range(101))
    assert status_of(b"GET / HTTP/1.0\r\n" + many + b"\r\n") == 431
    assert status_of(b"POST / HTTP/1.0\r\nContent-Length: 11\r\n\r\nhello world", max_body_size=10) == 413
    chunked = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
    assert status_of(chunked, max_body_size=10) == 413
    assert parse_all(chunked, max_body_size=11)[1] == b"hello world"


def test_an_overlong_request_line_is_414_however_it_arrives() -> None:
    data = b"GET /?" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n"
    for cuts in ([], [1000], list(range(4096, len(data), 4096))):
        with pytest.raises(ProtocolError) as info:
            parse_all(data, cuts)
        assert info.value.status == 414, cuts
    # A short request line with an oversized header section stays a 431.
    with pytest.raises(ProtocolError) as info:
        parse_all(b"GET / HTTP/1.0\r\nX: " + b"a" * 70_000 + b"\r\n\r\n")
    assert info.value.status == 431


def test_incomplete_head_growing_past_limit_is_431() -> None:
    parser = RequestParser(max_header_bytes=1000)
    parser.feed(b"GET / HTTP/1.0\r\n")
    assert parser.next_event() is NEED_DATA
    with pytest.raises(ProtocolError) as info:
        for _ in range(100):
            parser.feed(b"X-Filler: " + b"y" * 50 + b"\r\n")
            parser.next_event()
    assert info.value.status == 431


def test_byte_at_a_time_head_is_linear() -> None:
    # A slow client feeding a large head one byte at a time must not make the parser rescan
    # the whole buffer on every byte; 60 kB one byte at a time finishes quickly.
    parser = RequestParser()
    data = b"GET / HTTP/1.0\r\n" + b"".join(b"X-%05d: %s\r\n" % (i, b"v" * 40) for i in range(99)) + b"\r\n"
    for i in range(len(data)):
        parser.feed(data[i:i + 1])
        event = parser.next_event()
        if i < len(data) - 1:
            assert event is NEED_DATA
    assert isinstance(event, RequestHead)
    assert len(event.headers) == 99


def test_headers_multimap_api() -> None:
    h = Headers([("Set-Cookie", "a=1"), ("X", "1")])
    h.add("set-cookie", "b=2")
    assert h.get_all("SET-COOKIE") == ["a=1", "b=2"]
    h["x"] = "2"
    assert h.items() == [("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("x", "2")]
    assert h.setdefault("X", "3") == "2"
    assert h.setdefault("Y", "4") == "4"
    del h["set-cookie"]
    assert "Set-Cookie" not in h and h.get("set-cookie") is None
    with pytest.raises(KeyError):
        del h["nope"]
    assert Headers({"A": "1"}) == Headers([("A", "1")])


def test_response_head_refuses_header_injection() -> None:
    assert response_head(200, [("X", "1")]).startswith(b"HTTP/1.0 200 OK\r\nX: 1\r\n\r\n")
    with pytest.raises(ValueError):
        response_head(200, [("Location", "/a\r\nSet-Cookie: evil=1")])
    with pytest.raises(ValueError):
        response_head(42, [])


# -- property tests --------------------------------------------------------------------------

token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=20)
value = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=40)
path = st.lists(st.text(alphabet="abcxyz0129-._~%", min_size=0, max_size=8), max_size=5).map(lambda p: "/" + "/".join(p))


@settings(max_examples=200, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "X-CUSTOM"]), target=path,
       headers=st.lists(st.tuples(token, value), max_size=10), body=st.binary(max_size=300),
       chunked=st.booleans(), data=st.data())
def test_any_valid_request_round_trips_in_any_split(method: str, target: str, headers: list[tuple[str, str]],
                                                     body: bytes, chunked: bool, data: st.DataObject) -> None:
    headers = [(n, v) for n, v in headers
               if n.lower() not in ("content-length", "transfer-encoding", "host", "expect")]
    lines = [f"{method} {target} HTTP/1.1", "Host: h"] + [f"{n}: {v}" for n, v in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        sizes = data.draw(st.lists(st.integers(1, 50), max_size=10))
        pieces, rest = [], body
        for size in sizes:
            if rest:
                pieces.append(rest[:size])
                rest = rest[size:]
        if rest:
            pieces.append(rest)
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + payload
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=8))))
    head, got = parse_all(raw, cuts)
    assert (head.method, head.target, got) == (method, target, body)
    for name, val in headers:
        assert val.strip() in head.headers.get_all(name)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(1, 399), max_size=6))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes, cuts: list[int]) -> None:
    # Garbage must end in NEED_DATA, a request, or a ProtocolError with a 4xx/5xx status.
    parser = RequestParser(max_body_size=1000)
    points = [0, *sorted(c for c in set(cuts) if c < len(raw)), len(raw)]
    try:
        for a, b in zip(points, points[1:]):
            parser.feed(raw[a:b])
            for _ in range(1000):
                event = parser.next_event()
                if event is NEED_DATA or event is END:
                    break
    except ProtocolError as exc:
        assert 400 <= exc.status <= 505


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=60).filter(lambda b: any(c in b for c in b"\x00\r\x7f")))
def test_control_bytes_in_values_are_always_refused(junk: bytes) -> None:
    # With LF removed, every CR in the value is a bare CR: NUL, CR and DEL must all give 400.
    raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-Value: a" + junk.replace(b"\n", b"") + b"b\r\n\r\n"
    assert status_of(raw) == 400

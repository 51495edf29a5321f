"""The sans-IO request parser: every split point, framing rules, smuggling shapes, limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kali.http import END, NEED_DATA, Headers, ProtocolError, RequestHead, RequestParser, whole_head_parts

from request_corpus import corpus


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


def test_bare_lf_is_tolerated_in_the_head_but_not_in_chunk_framing() -> None:
    # RFC 9112 2.2 allows a bare LF to end the start line and fields; 7.1 requires CRLF in chunks.
    head = b"POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n"
    assert parse_all(head + b"3\r\nabc\r\n0\r\n\r\n")[1] == b"abc"
    assert status_of(head + b"3\nabc\r\n0\r\n\r\n") == 400        # size line
    assert status_of(head + b"3\r\nabc\n0\r\n\r\n") == 400        # after the data
    assert status_of(head + b"3\r\nabc\r\n0\r\nX: y\n\r\n") == 400  # a trailer line
    assert status_of(head + b"3\r\nabc\r\n0\r\n\n") == 400        # the end of the trailers


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


# -- the corpus: split anywhere, either path, the same answer ------------------------------------

class GeneralPathParser(RequestParser):
    """The parser with its fast path turned off: every head takes the general, strict path."""

    _fast_path = False


def describe(head: RequestHead | None) -> tuple[object, ...] | None:
    """Everything a head says, lazily split fields included."""
    if head is None:
        return None
    return (head.method, head.target, head.version, head.authority, head.headers.items(),
            sorted(head.headers._first.items()), head.content_length, head.chunked, head.expect_continue)


def outcome(raw: bytes, cuts: list[int] | tuple[int, ...] = (), parser_class: type[RequestParser] = RequestParser
            ) -> tuple[object, ...]:
    """What the parser makes of `raw` cut at `cuts`: the head, the body, and END, NEED_DATA or the error."""
    parser = parser_class()
    head = None
    body = bytearray()
    points = [0, *sorted(set(c for c in cuts if 0 < c < len(raw))), len(raw)]
    try:
        for a, b in zip(points, points[1:]):
            parser.feed(raw[a:b])
            while True:
                event = parser.next_event()
                if event is NEED_DATA:
                    break
                if event is END:
                    return ("END", describe(head), bytes(body))
                if isinstance(event, RequestHead):
                    assert head is None
                    head = event
                else:
                    assert isinstance(event, bytes) and event
                    body += event
    except ProtocolError as exc:
        return ("error", exc.status, exc.message, describe(head), bytes(body))
    return ("NEED_DATA", describe(head), bytes(body))


CORPUS = corpus()


def test_the_corpus_is_a_few_hundred_cases_of_every_kind() -> None:
    verdicts = [outcome(raw)[0] for _, raw in CORPUS]
    assert len(CORPUS) >= 300
    assert verdicts.count("END") >= 100 and verdicts.count("error") >= 100 and "NEED_DATA" in verdicts
    statuses = {outcome(raw)[1] for _, raw in CORPUS if outcome(raw)[0] == "error"}
    assert {400, 414, 431, 501, 505} <= statuses


@pytest.mark.parametrize("name, raw", CORPUS, ids=[name for name, _ in CORPUS])
def test_the_answer_never_depends_on_the_split_or_the_path(name: str, raw: bytes) -> None:
    reference = outcome(raw)
    assert outcome(raw, parser_class=GeneralPathParser) == reference
    for cut in range(1, len(raw)):
        assert outcome(raw, [cut]) == reference, cut
    # The general path at every cut too, except inside the few long cases (kilobytes of one
    # line or field), where every 7th cut keeps the run short.
    cuts = range(1, len(raw)) if len(raw) <= 4096 else [*range(1, 256), *range(256, len(raw), 7)]
    for cut in cuts:
        assert outcome(raw, [cut], GeneralPathParser) == reference, cut
    assert outcome(raw, range(1, len(raw))) == reference


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(CORPUS), edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(max_size=3)),
                                                    max_size=3),
       cuts=st.lists(st.integers(1, 1 << 16), max_size=8), general=st.booleans())
def test_any_split_of_any_request_gives_the_one_piece_answer(case: tuple[str, bytes], edits: list[tuple[int, bytes]],
                                                            cuts: list[int], general: bool) -> None:
    raw = case[1]
    for at, replacement in edits:       # mutate the case: replace a byte or two, insert, delete
        at %= len(raw) + 1
        raw = raw[:at] + replacement + raw[at + 1:]
    cuts = [c % (len(raw) + 1) for c in cuts]
    reference = outcome(raw)
    assert outcome(raw, parser_class=GeneralPathParser) == reference
    assert outcome(raw, cuts, GeneralPathParser if general else RequestParser) == reference


def whole_head_outcome(raw: bytes) -> tuple[object, ...] | None:
    """What the server's one-piece reading makes of `raw`: None (left to the parser) or END with the head."""
    parts = whole_head_parts(raw)
    if parts is None:
        return None
    return ("END", describe(RequestHead(*parts[:4], authority=parts[4])), b"")


@pytest.mark.parametrize("name, raw", CORPUS, ids=[name for name, _ in CORPUS])
def test_a_request_read_in_one_piece_is_what_the_parser_reads(name: str, raw: bytes) -> None:
    # The server reads a whole bodiless request without a parser: it must say exactly what
    # the parser says, or leave the request to it.
    found = whole_head_outcome(raw)
    assert found is None or found == outcome(raw)


@settings(max_examples=500, deadline=None)
@given(case=st.sampled_from(CORPUS), edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(max_size=3)),
                                                    max_size=3))
def test_any_request_read_in_one_piece_is_what_the_parser_reads(case: tuple[str, bytes],
                                                                 edits: list[tuple[int, bytes]]) -> None:
    raw = case[1]
    for at, replacement in edits:
        at %= len(raw) + 1
        raw = raw[:at] + replacement + raw[at + 1:]
    found = whole_head_outcome(raw)
    assert found is None or found == outcome(raw) == outcome(raw, parser_class=GeneralPathParser)


def test_the_common_requests_are_read_in_one_piece() -> None:
    # Otherwise the server's shortcut would never be taken.
    assert whole_head_parts(b"GET /hello HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\n"
                            b"Accept: */*\r\n\r\n") is not None
    assert whole_head_parts(b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=b\r\nSec-Fetch-Site: none\r\n\r\n") is not None
    assert whole_head_parts(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n") is None, "framing: the parser's"


# -- conformance decisions (RFC 9112 / 9110) ------------------------------------------------------

def test_absolute_form_target_gives_its_authority_and_a_path() -> None:
    head, _ = parse_all(b"GET http://127.0.0.1:8080/p/q?z=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
    # RFC 9112 3.2.2: the target's authority replaces Host.
    assert (head.target, head.authority, head.headers["host"]) == ("/p/q?z=1", "127.0.0.1:8080", "other.example")
    assert parse_all(b"GET HTTPS://[::1]:8443?x HTTP/1.1\r\nHost: h\r\n\r\n")[0].target == "/?x"
    assert parse_all(b"GET / HTTP/1.1\r\nHost: \t127.0.0.1:8080 \r\n\r\n")[0].authority == "127.0.0.1:8080"
    assert parse_all(b"GET / HTTP/1.0\r\n\r\n")[0].authority is None


@pytest.mark.parametrize("target", [b"http://[::", b"http://", b"http:///x", b"http://u@h/", b"http://h:x/",
                                    b"ftp://h/", b"http://h#f", b"http://[::g]/", b"example.com:80", b"http:h"])
def test_malformed_absolute_form_targets_are_400(target: bytes) -> None:
    assert status_of(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n") == 400


@pytest.mark.parametrize("field, status", [
    (b"Content-Length: 31\xa0", 400),       # str.strip() would remove U+00A0 and accept 31
    (b"Content-Length: \x8531", 400),
    (b"Transfer-Encoding: \x85chunked", 400),
    (b"Transfer-Encoding: chunked\xa0", 400),
    (b"Host: 127.0.0.1:8080\xa0", 400),
])
def test_only_sp_and_htab_are_whitespace_on_the_wire(field: bytes, status: int) -> None:
    host = b"" if field.startswith(b"Host") else b"Host: h\r\n"
    assert status_of(b"POST / HTTP/1.1\r\n" + host + field + b"\r\n\r\n" + b"x" * 31) == status
    # ... while SP and HTAB around a value are optional whitespace.
    head, body = parse_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \t31 \r\n\r\n" + b"x" * 31)
    assert head.content_length == 31 and body == b"x" * 31


def test_an_lf_inside_a_quoted_chunk_extension_does_not_end_the_size_line() -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    # A peer that honours the quotes reads the size line to the CRLF after the closing quote;
    # one that stops at the LF frames the body differently. Neither reading is accepted.
    assert status_of(head + b'3;a="x\ny"\r\nabc\r\n0\r\n\r\n') == 400
    assert status_of(head + b'3;a="x\r\ny"\r\nabc\r\n0\r\n\r\n') == 400
    assert parse_all(head + b'3;a="x;y\\"z" ; b = c\r\nabc\r\n0\r\n\r\n')[1] == b"abc"


def test_a_leading_space_before_a_chunk_size_is_refused() -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert status_of(head + b" 3\r\nabc\r\n0\r\n\r\n") == 400
    assert status_of(head + b"3 \r\nabc\r\n0\r\n\r\n") == 400


def test_a_long_method_is_501_however_it_is_split() -> None:
    raw = b"M" * 65 + b" / HTTP/1.1\r\nHost: h\r\n\r\n"
    for cut in range(1, len(raw)):
        assert outcome(raw, [cut])[:2] == ("error", 501)
    assert parse_all(b"M" * 64 + b" / HTTP/1.1\r\nHost: h\r\n\r\n")[0].method == "M" * 64


def test_connect_is_501_not_implemented() -> None:
    assert status_of(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n") == 501


def test_fields_are_split_only_when_read_and_then_match_the_general_path() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: h\r\nX-A:  1 \r\ncookie: a=1\r\nCookie: b=2\r\nContent-Length: 0, 0\r\n\r\n"
    fast, general = parse_all(raw)[0], GeneralPathParser()
    general.feed(raw)
    slow = general.next_event()
    assert isinstance(slow, RequestHead)
    assert fast.headers.get_all("cookie") == ["a=1", "b=2"] and fast.headers["content-length"] == "0"
    assert fast.headers == slow.headers and fast.headers.items() == slow.headers.items()
    assert len(fast.headers) == 5 and list(fast.headers)[1] == "X-A" and fast.headers["x-a"] == "1"

"""Audit of issues 2 (foundation) and 3 (router, static files, JSON, streaming): the gaps found."""

from __future__ import annotations

from typing import Any

import pytest

from kali.testing import Client


def echo_json(request: Any) -> Any:
    return {"got": request.json()}


def test_deeply_nested_json_is_a_400_not_a_500() -> None:
    client = Client(echo_json)
    response = client.post("/", body=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "nested too deeply" in response.text
    # A reasonable nesting still decodes.
    response = client.post("/", body=b"[" * 50 + b"]" * 50, headers={"Content-Type": "application/json"})
    assert response.status == 200


# -- the sans-IO parser ---------------------------------------------------------------------

from kali.http import END, NEED_DATA, ProtocolError, RequestHead, RequestParser  # noqa: E402


def feed_in_pieces(data: bytes, cuts: list[int]) -> list[Any]:
    """Every event the parser gives for `data` cut at `cuts` (stops at END)."""
    parser = RequestParser()
    events: list[Any] = []
    points = [0, *cuts, len(data)]
    for a, b in zip(points, points[1:]):
        parser.feed(data[a:b])
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
            if event is END:
                return events
    return events


def test_leading_empty_lines_are_ignored_at_every_split_point() -> None:
    # RFC 9112 2.2: a server should ignore empty lines before the request line.  Whole, they
    # always were; split between the CR and the LF, the lone CR was refused as a bad method.
    data = b"\r\n\r\nGET /x HTTP/1.0\r\n\r\n"
    for cut in range(1, len(data)):
        events = feed_in_pieces(data, [cut])
        assert isinstance(events[0], RequestHead) and events[0].target == "/x", cut
        assert events[-1] is END
    events = feed_in_pieces(data, list(range(1, len(data))))
    assert isinstance(events[0], RequestHead) and events[-1] is END
    # A CR that is not followed by LF is still garbage.
    with pytest.raises(ProtocolError) as info:
        feed_in_pieces(b"\rGET / HTTP/1.0\r\n\r\n", [1])
    assert info.value.status == 400


def test_an_overlong_request_line_is_414_however_it_arrives() -> None:
    data = b"GET /?" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n"
    for cuts in ([], [1000], list(range(4096, len(data), 4096))):
        with pytest.raises(ProtocolError) as info:
            feed_in_pieces(data, cuts)
        assert info.value.status == 414, cuts
    # A short request line with an oversized header section stays a 431.
    with pytest.raises(ProtocolError) as info:
        feed_in_pieces(b"GET / HTTP/1.0\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", [])
    assert info.value.status == 431


# -- the server loop ------------------------------------------------------------------------

import logging  # noqa: E402

from kali.response import Pause, Response  # noqa: E402
from support import get, parse_response, raw_request, running_server  # noqa: E402


@pytest.mark.parametrize("bad_item", [{"not": "an iolist"}, "\ud800", object()],
                         ids=["dict", "lone-surrogate", "object"])
def test_a_stream_yielding_a_non_iolist_is_cut_off_and_the_server_goes_on(bad_item: Any, caplog: Any) -> None:
    # Such an item used to raise from the loop itself (outside the stream's try), killing the server.
    cleaned_up: list[bool] = []

    def handler(request: Any) -> Any:
        if request.path != "/stream":
            return "still here"

        def pieces() -> Any:
            try:
                yield "first\n"
                yield Pause(0)
                yield bad_item
                yield "never\n"
            finally:
                cleaned_up.append(True)
        return Response.stream(pieces())

    with caplog.at_level(logging.ERROR, logger="kali"):
        with running_server(handler, timeout=0.5) as server:
            raw = raw_request(server.port, b"GET /stream HTTP/1.0\r\n\r\n", timeout=5)
            status, _, body = parse_response(raw)
            assert status == 200 and body == b"first\n"
            assert get(server.port, "/after", timeout=5)[2] == b"still here"
    assert cleaned_up == [True]
    assert any("GET /stream failed" in r.getMessage() for r in caplog.records)


def test_a_branded_error_page_that_fails_while_being_sent_falls_back_to_the_default(caplog: Any) -> None:
    # set_error_page's renderer is called inside a try, but a lazy iolist it returns was only
    # consumed by the server: its failure turned the 404 into a 500 page that failed again,
    # and a protocol error's page (no request to blame) killed the loop.
    from kali.http import HTTPError
    from kali.response import set_error_page

    def branded(code: int, message: str, detail: str | None) -> Any:
        yield "<h1>branded</h1>"
        raise RuntimeError("the error template broke")

    def handler(request: Any) -> Any:
        if request.path == "/missing":
            raise HTTPError(404, "No such note.")
        return "fine"

    set_error_page(branded)
    try:
        with caplog.at_level(logging.ERROR, logger="kali"):
            with running_server(handler, timeout=0.5) as server:
                status, _, body = get(server.port, "/missing")
                assert status == 404 and b"No such note." in body and b"branded" not in body
                status, _, body = parse_response(raw_request(server.port, b"G\x01T / HTTP/1.0\r\n\r\n"))
                assert status == 400 and b"branded" not in body
                assert get(server.port, "/")[2] == b"fine"
        assert any("custom error page failed" in r.getMessage() for r in caplog.records)
        # A branded page that works is used as it is, lazily built or not.
        set_error_page(lambda code, message, detail: (part for part in ["<h1>Oops ", code, "</h1>"]))
        assert Client(handler).get("/missing").text == "<h1>Oops 404</h1>"
    finally:
        set_error_page(None)

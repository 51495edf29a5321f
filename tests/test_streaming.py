"""Streamed and server-sent-event responses on a live server: one open stream never stops other requests."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any, Iterator

import pytest

from kali.request import Request
from kali.response import Pause, Response
from kali.routing import Router
from kali.testing import Client
from support import exchange, get, parse_response, raw_request, running_server

TIMEOUT = 5.0


class Probe:
    """What the streaming generators did, shared with the test thread."""

    def __init__(self) -> None:
        self.pulled = 0
        self.closed = threading.Event()


def make_app(probe: Probe) -> Router:
    app = Router()

    @app.function("/ping")
    def ping() -> str:
        return "pong"

    @app.function("/events")
    def events() -> Response:
        def ticks() -> Iterator[object]:
            try:
                n = 0
                while True:
                    n += 1
                    probe.pulled += 1
                    yield {"event": "tick", "id": n, "data": {"n": n}}
                    yield Pause(0.05)
            finally:
                probe.closed.set()
        return Response.events(ticks())

    @app.function("/slow")
    def slow() -> Response:
        def pieces() -> Iterator[object]:
            try:
                yield "first\n"
                # A long pause: a sleeping generator would freeze the only thread for 30 s.
                yield Pause(30)
                yield "never reached in the test\n"
            finally:
                probe.closed.set()
        return Response.stream(pieces())

    @app.function("/flood")
    def flood() -> Response:
        block = b"x" * 65536

        def blocks() -> Iterator[bytes]:
            try:
                while True:
                    probe.pulled += 1
                    yield block
            finally:
                probe.closed.set()
        return Response.stream(blocks(), content_type="application/octet-stream")

    @app.function("/count/*")
    def count(n: int) -> Response:
        return Response.stream((f"{i}\n" for i in range(n)))

    @app.function("/broken")
    def broken() -> Response:
        def pieces() -> Iterator[str]:
            yield "ok so far\n"
            raise RuntimeError("the generator has a bug")
        return Response.stream(pieces())

    return app


def open_stream(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def read_until(sock: socket.socket, marker: bytes, buffer: bytes = b"") -> bytes:
    """Read until `marker` has arrived (or fail after the socket timeout)."""
    deadline = time.monotonic() + TIMEOUT
    while marker not in buffer:
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} did not arrive; got {buffer[-200:]!r}")
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the server closed before {marker!r}; got {buffer[-200:]!r}")
        buffer += chunk
    return buffer


def timed_get(port: int, path: str) -> tuple[float, int, bytes]:
    started = time.monotonic()
    status, _, body = get(port, path, timeout=TIMEOUT)
    return time.monotonic() - started, status, body


def test_a_second_client_is_served_while_an_event_stream_is_open() -> None:
    probe = Probe()
    with running_server(make_app(probe)) as server:
        stream = open_stream(server.port, "/events")
        try:
            data = read_until(stream, b"\n\n", read_until(stream, b"\r\n\r\n"))
            status, headers, _ = parse_response(data)
            assert status == 200
            assert headers["content-type"] == "text/event-stream"
            assert headers["cache-control"] == "no-cache"
            assert "content-length" not in headers
            for _ in range(3):
                elapsed, status, body = timed_get(server.port, "/ping")
                assert (status, body) == (200, b"pong")
                assert elapsed < 2.0
            # The stream kept going meanwhile.
            data = read_until(stream, b"id: 4\n", data)
            events = [block for block in data.split(b"\r\n\r\n", 1)[1].split(b"\n\n") if block]
            assert events[0] == b'event: tick\nid: 1\ndata: {"n": 1}'
        finally:
            stream.close()
        # The server notices the client left and closes the generator (its finally runs).
        assert probe.closed.wait(TIMEOUT)


def test_a_paused_stream_does_not_block_the_loop() -> None:
    probe = Probe()
    with running_server(make_app(probe)) as server:
        stream = open_stream(server.port, "/slow")
        try:
            read_until(stream, b"first\n")
            # The generator now waits 30 s; other requests are answered at once.
            for _ in range(5):
                elapsed, status, body = timed_get(server.port, "/ping")
                assert (status, body) == (200, b"pong")
                assert elapsed < 2.0
        finally:
            stream.close()
        assert probe.closed.wait(TIMEOUT), "a paused stream whose client left was not closed"


def test_a_stream_is_pulled_only_as_fast_as_the_client_reads() -> None:
    probe = Probe()
    with running_server(make_app(probe), write_timeout=30) as server:
        stream = open_stream(server.port, "/flood")
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        try:
            read_until(stream, b"\r\n\r\n")
            # Do not read for a while: the server may fill the socket buffers, no more.
            time.sleep(0.5)
            elapsed, status, body = timed_get(server.port, "/ping")
            assert (status, body) == (200, b"pong")
            pulled = probe.pulled
            time.sleep(0.3)
            assert probe.pulled == pulled, "the generator is pulled although the socket cannot take more"
            # 64 KiB blocks: a few MiB of kernel buffers at most, not an unbounded queue in the server.
            assert pulled < 200
            # Reading resumes the stream (once the kernel buffers drain enough to wake the server).
            received = 0
            deadline = time.monotonic() + TIMEOUT
            while probe.pulled == pulled and received < (64 << 20) and time.monotonic() < deadline:
                received += len(stream.recv(65536))
            assert probe.pulled > pulled
        finally:
            stream.close()
        assert probe.closed.wait(TIMEOUT)


def test_a_finite_stream_ends_and_closes_the_connection() -> None:
    probe = Probe()
    with running_server(make_app(probe)) as server:
        reply = exchange(server.port, b"GET /count/1000 HTTP/1.0\r\n\r\n", timeout=TIMEOUT)
        # No length: the close is what tells the client the stream is complete.
        assert reply.ending == "closed", reply.ending
        status, headers, body = parse_response(reply.data)
        assert status == 200
        assert "content-length" not in headers
        assert body == "".join(f"{i}\n" for i in range(1000)).encode()


def test_a_failing_stream_is_cut_off_and_the_server_goes_on() -> None:
    probe = Probe()
    with running_server(make_app(probe)) as server:
        status, _, body = get(server.port, "/broken", timeout=TIMEOUT)
        assert status == 200
        assert body == b"ok so far\n"
        assert timed_get(server.port, "/ping")[1:] == (200, b"pong")


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


def test_head_of_a_stream_sends_the_head_only() -> None:
    probe = Probe()
    with running_server(make_app(probe)) as server:
        raw = raw_request(server.port, b"HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n", timeout=TIMEOUT)
        status, headers, body = parse_response(raw)
        assert (status, body) == (200, b"")
        assert headers["content-type"] == "text/event-stream"


def test_many_event_streams_at_once() -> None:
    probe = Probe()
    with running_server(make_app(probe)) as server:
        streams = [open_stream(server.port, "/events") for _ in range(20)]
        try:
            for stream in streams:
                read_until(stream, b"id: 2\n")
            assert timed_get(server.port, "/ping")[1:] == (200, b"pong")
        finally:
            for stream in streams:
                stream.close()


def test_server_sent_event_encoding() -> None:
    def feed() -> Iterator[object]:
        yield "plain"
        yield "two\nlines"
        yield Pause(0)
        yield {"event": "update", "id": 7, "retry": 1000, "data": {"x": [1, 2]}}
        yield {"data": "text\r\nwith crlf"}
        yield ""

    app = Router()
    app.delegate("/sse", lambda request: Response.events(feed()))
    response = Client(app).get("/sse")
    assert response.headers["content-type"] == "text/event-stream"
    assert response.text == (
        "data: plain\n\n"
        "data: two\ndata: lines\n\n"
        "event: update\nid: 7\nretry: 1000\ndata: " + json.dumps({"x": [1, 2]}) + "\n\n"
        "data: text\ndata: with crlf\n\n"
        "data: \n\n"
    )


def test_pause_rejects_negative_seconds() -> None:
    with pytest.raises(ValueError):
        Pause(-1)
    with pytest.raises(ValueError):
        Pause(float("nan"))


def test_a_handler_can_stream_from_the_request() -> None:
    app = Router()

    @app.function("/upper", methods=["POST"])
    def upper(request: Request) -> Response:
        lines = request.body.decode().splitlines()
        return Response.stream((line.upper() + "\n" for line in lines))

    with running_server(app) as server:
        body = b"a\nb\nc"
        raw = raw_request(server.port, b"POST /upper HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n" + body,
                          timeout=TIMEOUT)
        assert parse_response(raw)[2] == b"A\nB\nC\n"

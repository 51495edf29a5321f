"""kali.connection: a connection's states, the one table of moves between them, and its deadlines."""

from __future__ import annotations

import logging
import re
import socket
import time
from typing import Any, Iterator

import pytest

import kali.connection
from kali import Response
from kali.connection import MOVES, Connection, ConnState, IllegalMove
from kali.response import Pause
from kali.server import Server
from support import parse_response, raw_request, read_until_closed, running_server, serving

STATES = list(ConnState)


def connection_in(state: ConnState) -> Connection:
    return Connection(None, None, ("127.0.0.1", 1), state)  # type: ignore[arg-type]


@pytest.mark.parametrize("start", STATES, ids=[s.name for s in STATES])
def test_only_the_moves_in_the_table_are_allowed(start: ConnState) -> None:
    for target in STATES:
        conn = connection_in(start)
        if target in MOVES[start]:
            conn.move(target)
            assert conn.state is target
        else:
            with pytest.raises(IllegalMove, match=f"from {start.name} to {target.name}"):
                conn.move(target)
            assert conn.state is start


def test_the_docstring_draws_the_same_moves_as_the_table() -> None:
    doc = kali.connection.__doc__ or ""
    drawn: dict[ConnState, set[ConnState]] = {state: set() for state in STATES}
    for start, end in re.findall(r"^\s+(\w+)\s+--.*?--> (\w+)$", doc, re.MULTILINE):
        starts = [s for s in STATES if s is not ConnState.CLOSED] if start == "any" else [ConnState[start]]
        for state in starts:
            drawn[state].add(ConnState[end])
    assert drawn == {state: set(moves) for state, moves in MOVES.items()}


def test_every_state_can_close_and_a_closed_connection_goes_nowhere() -> None:
    assert all(ConnState.CLOSED in MOVES[s] for s in STATES if s is not ConnState.CLOSED)
    assert MOVES[ConnState.CLOSED] == frozenset()


# -- the moves a real connection makes ---------------------------------------------------------

@pytest.fixture()
def moves(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every move connections make while the test runs: (from, to) state names."""
    seen: list[tuple[str, str]] = []
    real_move = Connection.move

    def recording_move(self: Connection, new: ConnState) -> None:
        before = self.state
        real_move(self, new)
        seen.append((before.name, new.name))
    monkeypatch.setattr(Connection, "move", recording_move)
    yield seen


def settle(moves: list[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    """The moves once `count` of them happened (the server thread may still be closing)."""
    deadline = time.monotonic() + 5
    while len(moves) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(moves)


def wait_until_part_is_read(server: Server) -> None:
    """Return once a Connection has read part of a request and waits for the rest, within 5 s.

    Being accepted is not enough: a connection accepted before its first byte, whose first
    read comes after the rest has arrived too, reads the request whole.
    """
    deadline = time.monotonic() + 5
    while not any(conn.reader is not None for conn in list(server._conns)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any(conn.reader is not None for conn in list(server._conns)), "no partial request held within 5 s"


def app(request: Any) -> Any:
    if request.path == "/pause":
        return Response.stream(iter(["a", Pause(0.05), "b"]))
    return "ok"


def test_a_request_in_pieces_is_read_written_and_closed(moves: list[tuple[str, str]]) -> None:
    with running_server(app) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n")
            wait_until_part_is_read(server)     # the server holds the first piece: a partial head
            sock.sendall(b"\r\n")
            assert parse_response(read_until_closed(sock).data)[2] == b"ok"
        assert settle(moves, 2) == [("READ", "WRITE"), ("WRITE", "CLOSED")]


def test_a_whole_request_is_answered_at_once_without_a_connection_object(
        moves: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Connection] = []
    real_init = Connection.__init__

    def counting_init(self: Connection, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        real_init(self, *args, **kwargs)
    monkeypatch.setattr(Connection, "__init__", counting_init)
    server = Server(app, port=0)
    # Sent before the loop runs, the request is whole when it is accepted, however busy the machine.
    early = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    early.sendall(b"GET / HTTP/1.0\r\n\r\n")
    with early, serving(server):
        assert parse_response(read_until_closed(early).data)[2] == b"ok"
        # The reply was read to the close: read, answered and closed in one straight line,
        # with no Connection (no state, no moves) to make or tear down.
        assert made == [] and moves == []
        assert not server._conns
        # A request in two pieces cannot be: it gets its Connection.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n")
            wait_until_part_is_read(server)
            sock.sendall(b"\r\n")
            assert parse_response(read_until_closed(sock).data)[2] == b"ok"
        assert len(made) == 1


def test_a_paused_stream_waits_then_writes_again(moves: list[tuple[str, str]]) -> None:
    with running_server(app) as server:
        assert parse_response(raw_request(server.port, b"GET /pause HTTP/1.0\r\n\r\n"))[2] == b"ab"
        assert settle(moves, 4) == [("READ", "WRITE"), ("WRITE", "PAUSE"), ("PAUSE", "WRITE"), ("WRITE", "CLOSED")]


def test_a_refused_request_lingers_before_closing(moves: list[tuple[str, str]]) -> None:
    with running_server(app) as server:
        # 413 while the client is still sending: reply, half-close, drain, then close.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: 99999999999999\r\n\r\nxx")
            reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.0 413 ")
        assert settle(moves, 3) == [("READ", "WRITE"), ("WRITE", "LINGER"), ("LINGER", "CLOSED")]


def test_a_silent_connection_is_closed_at_its_first_byte_deadline(moves: list[tuple[str, str]]) -> None:
    with running_server(app, timeout=0.2) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            assert sock.recv(100) == b"", "closed without a reply"
        assert settle(moves, 1) == [("READ", "CLOSED")]


def test_a_head_that_stops_halfway_gets_a_408_at_its_head_deadline() -> None:
    with running_server(app, timeout=0.2, request_timeout=0.3) as server:
        raw = raw_request(server.port, b"GET / HTTP/1.0\r\nX-Slow: ", timeout=5)
        assert parse_response(raw)[0] == 408


def test_an_illegal_move_drops_that_connection_only(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    # A table without READ -> WRITE: a bug in kali that shows as an error naming the move.
    broken = dict(MOVES)
    broken[ConnState.READ] = frozenset({ConnState.CLOSED})
    with running_server(app) as server:
        with caplog.at_level(logging.ERROR, logger="kali"):
            monkeypatch.setattr(kali.connection, "MOVES", broken)
            # A request with a body: answered on the general path, which moves READ -> WRITE
            # (a whole body-less GET is answered at once, without moves).
            assert raw_request(server.port, b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nab") == b""
        assert any("cannot move from READ to WRITE" in (r.exc_text or "") for r in caplog.records)
        monkeypatch.setattr(kali.connection, "MOVES", MOVES)
        assert parse_response(raw_request(server.port, b"GET / HTTP/1.0\r\n\r\n"))[2] == b"ok", "the loop went on"


def test_a_connection_answered_after_waiting_leaves_no_deadline_behind(caplog: Any) -> None:
    # A connection accepted before its request arrived waits with a first-byte deadline. Once it
    # is answered, the entry is dropped at the loop's next timed work (here: writing the access
    # line), instead of staying queued until it falls due and waking the loop up for nothing.
    with caplog.at_level(logging.INFO, logger="kali"), running_server(app, timeout=30) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            deadline = time.monotonic() + 5
            while not server._heap and time.monotonic() < deadline:
                time.sleep(0.01)    # until it is accepted, and waits for its first byte
            assert server._heap, "the connection waits with a deadline"
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert parse_response(read_until_closed(sock).data)[2] == b"ok"
        deadline = time.monotonic() + 5
        while server._heap and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server._heap == []
        assert server._wake_at > time.monotonic() + 60, "nothing left to wake up for"
    # Answered on the straight line after the wait, it is logged like any other request.
    lines = [r.getMessage() for r in caplog.records if getattr(r, "kali_access", False)]
    assert len(lines) == 1
    method, target, status, sent, ms = lines[0].split()
    assert (method, target, status) == ("GET", "/", "200") and int(sent) > 2
    assert float(ms.removesuffix("ms")) < 1000, "timed from the request's first byte"

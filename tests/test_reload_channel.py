"""The control channel between the `run --reload` supervisor and an app process: JSON lines, the listening socket
handed across, and the loopback connections Windows uses instead of inherited sockets (their matching by token
runs here too; only `socket.share` itself needs Windows)."""

from __future__ import annotations

import os
import selectors
import socket
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from kali.reload import _Connections
from kali.reload_channel import ENVIRONMENT_VARIABLE, Channel, ChannelClosed, channel_pair, connect_from_environment
from kali.server import listening_socket


def test_messages_cross_as_json_lines_in_order_and_the_end_is_noticed() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    supervisor, child = Channel(ours), Channel(theirs)
    child.send({"event": "serve", "settings": {"app": "notes", "port": 8080}})
    child.send({"event": "ready", "modules": ["/app/app.py"]})
    theirs.sendall(b"not json\n[1, 2]\n")
    child.send({"event": "stopped", "reason": "a long reason " * 5000})      # more than one recv's worth
    theirs.close()
    received: list[dict[str, Any]] = []
    with pytest.raises(ChannelClosed):
        while True:
            received += supervisor.receive_ready()
    assert [m.get("event") for m in received] == ["serve", "ready", "garbled", "garbled", "stopped"]
    assert received[0]["settings"] == {"app": "notes", "port": 8080}
    assert received[2]["text"] == "not json" and received[4]["reason"] == "a long reason " * 5000
    supervisor.close()


def test_a_child_waiting_for_a_command_gets_none_after_its_timeout_and_ChannelClosed_at_the_end() -> None:
    ours, theirs = socket.socketpair()
    child = Channel(theirs)
    assert child.receive(timeout=0.01) is None
    ours.sendall(b'{"command": "stop", "reason": "new code took over"}\n')
    assert child.receive(timeout=5) == {"command": "stop", "reason": "new code took over"}
    ours.close()
    with pytest.raises(ChannelClosed):
        child.receive(timeout=5)
    child.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SCM_RIGHTS is POSIX")
def test_the_listening_socket_crosses_the_channel_and_still_listens_on_the_same_port(
        monkeypatch: pytest.MonkeyPatch) -> None:
    supervisor, value, inherited = channel_pair("token")
    assert supervisor is not None and inherited is not None and value == f"fd:{inherited.fileno()}"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
    child = connect_from_environment()
    assert child is not None
    assert ENVIRONMENT_VARIABLE not in os.environ       # processes the app starts are not app processes
    inherited.detach()                                  # the child's Channel owns that descriptor now
    listener = listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    supervisor.send_listener({"command": "listen", "url": f"http://127.0.0.1:{port}/"}, listener, 1234)
    message = child.receive(timeout=5)
    assert message is not None and message["command"] == "listen"
    taken = child.take_listener(message)
    assert taken.fileno() != listener.fileno() and taken.getsockname() == listener.getsockname()
    listener.close()                                    # the supervisor's copy gone: the child's still listens
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        taken.setblocking(True)
        taken.settimeout(5)
        accepted, _ = taken.accept()
        client.sendall(b"hi")
        assert accepted.recv(2) == b"hi"
        accepted.close()
    taken.close()
    supervisor.close()
    child.close()


def test_an_app_process_on_windows_connects_back_and_is_known_by_its_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # What runs on Windows, where no socket is inherited by number: the app process connects to the
    # supervisor's loopback control socket and names itself with the token from its environment.
    selector = selectors.DefaultSelector()
    heard: list[tuple[Any, dict[str, Any]]] = []
    supervisor = SimpleNamespace(selector=selector, processes=[],
                                 _on_message=lambda process, message: heard.append((process, message)))
    connections = _Connections(supervisor)          # type: ignore[arg-type]
    try:
        monkeypatch.setattr(sys, "platform", "win32")
        ours, value, inherited = channel_pair("0123abcd", connections.listener)
        monkeypatch.undo()
        assert ours is None and inherited is None
        assert value == f"tcp:{connections.listener.getsockname()[1]}:0123abcd"
        first = SimpleNamespace(token="0123abcd", channel=None)
        second = SimpleNamespace(token="4567cdef", channel=None)
        supervisor.processes += [second, first]
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
        child = connect_from_environment()          # connects and names itself
        assert child is not None

        def turn() -> list[Any]:
            ready = [key.data for key, _ in selector.select(5)]
            for data in ready:
                if data is connections.listener or isinstance(data, Channel):
                    connections.on_readable(data)
            return ready

        while first.channel is None:
            turn()
        assert second.channel is None and heard == []
        # From now on its channel is the supervisor's, read with the other app processes' channels.
        child.send({"event": "serve", "settings": {"app": "notes"}})
        while first not in turn():
            pass
        assert first.channel.receive_ready() == [{"event": "serve", "settings": {"app": "notes"}}]
        first.channel.send({"command": "exit"})
        assert child.receive(timeout=5) == {"command": "exit"}
        child.close()

        # What arrives together with the token is passed on, not lost.
        with socket.create_connection(connections.listener.getsockname()[:2], timeout=5) as quick:
            quick.sendall(b'{"token": "4567cdef"}\n{"event": "ready", "modules": []}\n')
            while second.channel is None:
                turn()
        assert heard == [(second, {"event": "ready", "modules": []})]
        for process in (first, second):             # as the supervisor does with a channel that closed
            selector.unregister(process.channel.sock)
            process.channel.close()

        # A connection naming no process of this supervisor is closed.
        stranger = socket.create_connection(connections.listener.getsockname()[:2], timeout=5)
        stranger.sendall(b'{"token": "not-a-process"}\n')
        stranger.settimeout(0.05)
        for _ in range(100):
            turn()
            try:
                if stranger.recv(1) == b"":
                    break
            except socket.timeout:
                continue
        else:
            raise AssertionError("the stranger's connection stayed open")
        stranger.close()
    finally:
        connections.close()
        selector.close()

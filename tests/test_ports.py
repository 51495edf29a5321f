"""The port an app listens on: bound first (never probed), remembered across launches, a busy one handled without a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kali.instance import InstanceRecord
from kali.launch import choose_listener
from kali.server import listening_socket
from support import LIFECYCLE_APP, LiveApp, get


def held_port() -> socket.socket:
    """A socket listening on a free loopback port: that port is busy while it is open."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_an_explicit_port_is_bound_as_given_or_fails() -> None:
    with held_port() as busy:
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            choose_listener("127.0.0.1", port)
    sock, note = choose_listener("127.0.0.1", 0)
    with sock:
        assert sock.getsockname()[1] != 0 and note is None


def test_a_busy_preferred_port_gives_the_next_free_one_and_says_why() -> None:
    with held_port() as busy:
        port = busy.getsockname()[1]
        sock, note = choose_listener("127.0.0.1", None, first=port)
        with sock:
            got = sock.getsockname()[1]
            assert got != port
            assert note == f"port {port} (its usual port) is taken by another program, so this time the app is on port {got}"
        # The remembered port is preferred over the first one, and named as such.
        sock, note = choose_listener("127.0.0.1", None, remembered=port, first=1)
        with sock:
            assert note is not None and f"port {port} (the port it used last time) is taken" in note


def test_a_free_remembered_port_is_used_without_a_note() -> None:
    with held_port() as probe:
        port = probe.getsockname()[1]
    sock, note = choose_listener("127.0.0.1", None, remembered=port)
    with sock:
        assert sock.getsockname()[1] == port and note is None


def test_an_explicit_busy_port_is_a_one_line_error_with_status_1(tmp_path: Path) -> None:
    with held_port() as busy:
        port = busy.getsockname()[1]
        with LiveApp(LIFECYCLE_APP, tmp_path / "data", env={"KALI_PORT": str(port)}) as app:
            assert app.wait(20) == 1
            assert app.err == [f"kali: port {port} is already in use by another program: choose another "
                               f"(port= or KALI_PORT=), or give none and kali picks a free one"]
            assert "kali: serving" not in app.output


def test_the_first_launch_takes_8080_or_says_why_not(tmp_path: Path) -> None:
    # 8080 is made busy for the test: held here, or already held by another program.
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8080))
        holder.listen(1)
    except OSError:
        holder.close()
    with holder, LiveApp(LIFECYCLE_APP, tmp_path / "data") as app:
        port = app.port()
        assert port != 8080
        assert app.out[0] == (f"kali: port 8080 (its usual port) is taken by another program, so this time "
                              f"the app is on port {port}")
        assert get(port, "/")[0] == 200
    assert "Traceback" not in app.errors
    assert InstanceRecord(tmp_path / "data" / "lifecycle").remembered_port() == port


def test_the_port_used_last_time_is_used_again_and_a_busy_one_is_replaced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveApp(LIFECYCLE_APP, data, env={"KALI_PORT": "0"}) as first:
        port = first.port()
    assert first.wait() == 0
    assert InstanceRecord(data / "lifecycle").read() == {"port": port}
    # No port given: the one used last time, so the app keeps its origin (cookies, storage).
    with LiveApp(LIFECYCLE_APP, data) as again:
        assert again.port() == port
        assert get(port, "/")[0] == 200
    assert again.wait() == 0
    # Another program took it meanwhile: the next free port, said plainly, and remembered.
    with held_port() as other:
        port = other.getsockname()[1]
        (data / "lifecycle" / "kali-instance.json").write_text(json.dumps({"port": port}))
        with LiveApp(LIFECYCLE_APP, data) as moved:
            new_port = moved.port()
            assert new_port != port
            note = moved.wait_for("is taken by another program")
            assert note == (f"kali: port {port} (the port it used last time) is taken by another program, "
                            f"so this time the app is on port {new_port}")
        assert moved.wait() == 0
        assert "Traceback" not in moved.errors
    assert InstanceRecord(data / "lifecycle").remembered_port() == new_port


def test_a_supervisors_child_serves_the_socket_it_inherits_and_leaves_the_record_alone(tmp_path: Path) -> None:
    listener = listening_socket("127.0.0.1", 0)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALI_")}
    env.update(KALI_LISTEN_FD=str(listener.fileno()), KALI_DATA_DIR=str(data), PYTHONUNBUFFERED="1",
               KALI_QUIT_AFTER="30")
    child = subprocess.Popen([sys.executable, str(LIFECYCLE_APP)], env=env, pass_fds=[listener.fileno()],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == f"kali: serving http://127.0.0.1:{port}/"
        status, _, body = get(port, "/")
        assert status == 200 and b"/_kali/page." in body        # KALI_QUIT_AFTER still turns the channel on
        assert not (data / "lifecycle" / "kali-instance.json").exists()
        assert get(port, "/_kali/ping?challenge=" + "ab" * 16)[0] == 404     # the parent's record, the parent's ping
    finally:
        child.terminate()
        assert child.wait(10) == 0
        child.stdout.close()
        child.stderr.close()
        listener.close()

"""The helpers in tests/support.py: what they promise the tests that use them."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
from support import ROOT, exchange, raw_request


@contextmanager
def listener(then: Callable[[socket.socket], None]) -> Iterator[int]:
    """A bare loopback listener: it accepts one connection, reads the request, then does `then` to it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        done = threading.Event()

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                then(conn)
                done.wait(10)           # keep the socket open until the test has looked

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            done.set()
            thread.join(10)


def answer_and_close(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nbye")
    conn.shutdown(socket.SHUT_WR)


def answer_and_stay_open(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nstill here")


def abort(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close sends RST
    conn.close()


@pytest.mark.parametrize("then, ending, closed", [(answer_and_close, "closed", True),
                                                  (abort, "reset", True),
                                                  (answer_and_stay_open, "timed out", False)],
                         ids=["fin", "rst", "left-open"])
def test_exchange_tells_a_close_from_a_connection_left_open(then: Callable[[socket.socket], None], ending: str,
                                                            closed: bool) -> None:
    with listener(then) as port:
        reply = exchange(port, b"GET / HTTP/1.0\r\n\r\n", timeout=0.5)
    assert (reply.ending, reply.closed) == (ending, closed)
    assert reply.data == {"closed": b"HTTP/1.0 200 OK\r\n\r\nbye", "reset": b"",
                          "timed out": b"HTTP/1.0 200 OK\r\n\r\nstill here"}[ending]


def test_raw_request_fails_when_the_server_leaves_the_connection_open() -> None:
    with listener(answer_and_stay_open) as port:
        with pytest.raises(AssertionError, match="did not close the connection within 0.5 s"):
            raw_request(port, b"GET / HTTP/1.0\r\n\r\n", timeout=0.5)
    with listener(answer_and_close) as port:
        assert raw_request(port, b"GET / HTTP/1.0\r\n\r\n", timeout=0.5) == b"HTTP/1.0 200 OK\r\n\r\nbye"


@pytest.mark.parametrize("module", ["test_examples_browser", "test_datebook_browser", "test_forms_browser",
                                    "test_security"])
@pytest.mark.parametrize("ci", [False, True])
def test_a_missing_chromium_is_a_skip_locally_and_a_failure_in_ci(module: str, ci: bool, tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    # Every browser module launches through tests/support.chromium, which looks for support.CHROMIUM.
    probe.write_text(f"import support\n"
                     f"support.CHROMIUM = {str(tmp_path / 'no-chromium-here')!r}\n"
                     f"from {module} import browser\n\n"
                     "def test_needs_the_browser(browser):\n"
                     "    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
    if ci:
        env["CI"] = "true"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(probe)],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    if ci:
        assert done.returncode == 1 and "CI" in done.stdout and "1 error" in done.stdout, done.stdout
    else:
        assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout
        assert "apt-get install -y chromium" in done.stdout

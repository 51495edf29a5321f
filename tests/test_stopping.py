"""Stopping: a second Ctrl-C/SIGTERM stops at once; every way out checkpoints and closes the databases and releases the record."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from kali.instance import InstanceRecord
from support import LIFECYCLE_APP, LiveApp, get, query_the_file_alone, raw_request, read_until_closed

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def rows_in_the_file_alone(db: Path, tmp_path: Path) -> list[str]:
    """The notes a copy of the .sqlite3 file alone holds (no -wal beside it)."""
    return [row[0] for row in query_the_file_alone(db, tmp_path, "SELECT text FROM note ORDER BY id")]


def write(port: int, text: str) -> None:
    assert get(port, f"/write?text={text}")[2] == b"written\n"


def assert_released(data: Path, port: int) -> None:
    record = InstanceRecord(data / "lifecycle")
    assert record.read() == {"port": port}
    assert record.acquire()
    record.release()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_second_signal_stops_at_once_and_rolls_back_the_stuck_request(tmp_path: Path, signum: int) -> None:
    db = tmp_path / "notes.sqlite3"
    data = tmp_path / "data"
    with LiveApp(LIFECYCLE_APP, data, env={"KALI_PORT": "0", "LIFE_DB": str(db)}) as app:
        port = app.port()
        holder = sqlite3.connect(db)        # another reader: only kali's checkpoint can empty the WAL
        try:
            holder.execute("SELECT count(*) FROM note").fetchone()
            for text in ("one", "two", "three"):
                write(port, text)
            stuck = socket.create_connection(("127.0.0.1", port), timeout=30)
            stuck.sendall(f"GET /slow HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            app.wait_for("slow handler started")
            app.proc.send_signal(signum)
            # The slow request is still in flight after a second: the console says what to do.
            offer = app.wait_for("press Ctrl-C again")
            assert offer == "kali: still finishing a response; press Ctrl-C again to stop at once"
            assert app.proc.poll() is None
            second = time.monotonic()
            app.proc.send_signal(signum)
            assert app.wait(10) == 0
            took = time.monotonic() - second
            stuck.close()
            name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
            assert app.out[-1] == f"kali: stopped (at once, by a second {name}: the request in flight was abandoned)"
            # The handler sleeps 60 s: ending well before that shows it was abandoned. How fast (the
            # promise is "within a second"; 16-18 ms measured) is bench/lifecycle.py's figure, since
            # a timed bound this tight fails on a loaded machine.
            assert took < 5.0, f"the second {name} took {took:.2f} s to stop the app"
            assert "was still open at exit; it was rolled back" in app.errors
            assert "Traceback" not in app.errors
            assert rows_in_the_file_alone(db, tmp_path) == ["one", "two", "three"]
            assert os.path.getsize(f"{db}-wal") == 0
        finally:
            holder.close()
        assert_released(data, port)


def close_the_last_page(port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET /_kali/events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert sock.recv(4096).startswith(b"HTTP/1.0 200")
    time.sleep(0.2)
    sock.close()


@pytest.mark.parametrize("way_out", ["Ctrl-C", "SIGTERM", "shut_down", "last page closed"])
def test_every_way_out_checkpoints_the_databases_and_releases_the_record(tmp_path: Path, way_out: str) -> None:
    db = tmp_path / "notes.sqlite3"
    data = tmp_path / "data"
    env = {"KALI_PORT": "0", "LIFE_DB": str(db), "KALI_QUIT_AFTER": "0.5"}
    with LiveApp(LIFECYCLE_APP, data, env=env) as app:
        port = app.port()
        holder = sqlite3.connect(db)
        try:
            holder.execute("SELECT count(*) FROM note").fetchone()
            written = [f"row-{i}" for i in range(20)]
            for text in written:
                write(port, text)
            assert os.path.getsize(f"{db}-wal") > 0
            if way_out == "Ctrl-C":
                app.proc.send_signal(signal.SIGINT)
            elif way_out == "SIGTERM":
                app.proc.send_signal(signal.SIGTERM)
            elif way_out == "shut_down":
                assert raw_request(port, f"GET /quit HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()).endswith(b"bye")
            else:
                close_the_last_page(port)
            assert app.wait(10) == 0
            reason = {"Ctrl-C": "Ctrl-C was pressed", "SIGTERM": "SIGTERM was received",
                      "shut_down": "a response asked the app to stop (shut_down)",
                      "last page closed": "the last window was closed"}[way_out]
            assert app.out[-1] == f"kali: stopped ({reason})"
            assert rows_in_the_file_alone(db, tmp_path) == written
            assert os.path.getsize(f"{db}-wal") == 0
        finally:
            holder.close()
        assert_released(data, port)


def test_an_exception_escaping_the_loop_still_closes_the_databases_and_releases_the_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kali import serve_http
    from kali.server import Server
    from kali.sqlite import open_database
    monkeypatch.setenv("KALI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KALI_PORT", "0")
    monkeypatch.setenv("KALI_NO_BROWSER", "1")
    db = open_database(tmp_path / "n.sqlite3", schema="CREATE TABLE note (text TEXT);")
    with db:
        db.execute("INSERT INTO note VALUES ('kept')")

    def broken_loop(self: Server) -> None:
        raise RuntimeError("the loop broke")

    monkeypatch.setattr(Server, "run", broken_loop)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError, match="the loop broke"):
        serve_http(lambda request: "x", app_name="broken")
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")
    record = InstanceRecord(tmp_path / "data" / "broken")
    assert record.acquire() and set(record.read()) == {"port"}
    record.release()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_delivered_to_another_thread_still_stops_the_idle_loop(tmp_path: Path) -> None:
    with LiveApp(LIFECYCLE_APP, tmp_path / "data", env={"KALI_PORT": "0"}) as app:
        port = app.port()
        assert get(port, "/signal-from-a-thread")[0] == 200
        # Nothing else happens: only the signal's wakeup byte can end the loop's wait.
        assert app.wait(10) == 0
        assert app.out[-1] == "kali: stopped (SIGTERM was received)"


def test_a_stop_for_a_swap_answers_requests_still_arriving_on_accepted_connections() -> None:
    # Under run --reload the outgoing process stops while the new one serves the same socket: a client
    # that connected to the outgoing one just before, and sends its request only now, is answered.
    import threading

    from kali.server import Server
    for finish in (True, False):
        server = Server(lambda request: "answered", port=0, timeout=5.0)
        loop = threading.Thread(target=server.run, daemon=True)
        loop.start()
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                deadline = time.monotonic() + 5
                while not server._conns and time.monotonic() < deadline:
                    time.sleep(0.01)         # accepted, and waiting for its first byte
                assert server._conns
                server.stop(finish_requests=finish)
                time.sleep(0.2)
                try:
                    sock.sendall(f"GET / HTTP/1.0\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass
                reply = read_until_closed(sock).data
            if finish:
                assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"answered")
            else:
                assert reply == b""          # a plain stop closes a connection that sent nothing
        finally:
            server.stop()
            loop.join(10)
        assert not loop.is_alive()

"""Durability of kali.sqlite under a real server process: SIGKILL mid-load, and other processes using the file."""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from support import ROOT, read_until_closed, stop_process, wait_for_url

WRITER = ROOT / "tests" / "apps" / "writer.py"
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def start_writer(db: Path, style: str) -> tuple[subprocess.Popen[str], int]:
    """Start tests/apps/writer.py on a free port; returns the process and its port."""
    env = dict(os.environ, KALI_PORT="0", KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1",
               WRITER_DB=str(db), WRITER_STYLE=style)
    proc = subprocess.Popen([sys.executable, str(WRITER)], cwd=str(ROOT), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = urlsplit(wait_for_url(proc)).port
    assert port is not None
    return proc, port


def http(port: int, method: str, target: str, body: bytes = b"", timeout: float = 5.0) -> tuple[int, bytes]:
    """One HTTP/1.0 request over a fresh socket: (status, body). Raises OSError if the server is gone."""
    head = (f"{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("ascii") + body)
        reply = read_until_closed(sock, timeout)
    if reply.ending != "closed":
        raise ConnectionError(f"the connection was {reply.ending} before the response was complete")
    raw = reply.data
    head_bytes, sep, payload = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError(f"incomplete response: {raw[:100]!r}")
    return int(head_bytes.split(b" ", 2)[1]), payload


def write(port: int, token: str, children: int, payload: bytes) -> bool:
    """POST one record; True only if the server acknowledged exactly this record."""
    status, body = http(port, "POST", f"/write?token={token}&children={children}", payload)
    return status == 200 and body == f"ok {token}\n".encode()


def hammer(port: int, prefix: str, stop: threading.Event, acknowledged: list[str],
           errors: list[str], seed: int) -> None:
    """Send writes until `stop` is set or the server disappears; record every acknowledged token."""
    rng = random.Random(seed)
    n = 0
    while not stop.is_set() and n < 5000:
        n += 1
        token = f"{prefix}-{n}"
        children = rng.randint(1, 12)
        payload = rng.randbytes(rng.randint(100, 6000))
        try:
            ok = write(port, token, children, payload)
        except OSError:
            return      # killed: this request was never acknowledged
        if ok:
            acknowledged.append(token)
        else:
            errors.append(token)


def check_database(db: Path, acknowledged: list[str]) -> int:
    """Assert the file is intact, every acknowledged record is there, and none is half-written."""
    conn = sqlite3.connect(str(db), timeout=5)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        present = {row[0] for row in conn.execute("SELECT token FROM parent")}
        missing = [token for token in acknowledged if token not in present]
        assert not missing, f"{len(missing)} acknowledged writes were lost, e.g. {missing[:5]}"
        # Every parent must have exactly the children (and bytes) its request wrote.
        broken = conn.execute("""
            SELECT p.token, p.children, count(c.id), coalesce(sum(length(c.payload)), 0), p.children * p.size
            FROM parent p LEFT JOIN child c ON c.parent_id = p.id
            GROUP BY p.id
            HAVING count(c.id) != p.children OR coalesce(sum(length(c.payload)), 0) != p.children * p.size
        """).fetchall()
        assert broken == [], f"half-written records: {broken[:5]}"
        return len(present)
    finally:
        conn.close()


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "writer.sqlite3"
    all_acknowledged: list[str] = []
    rng = random.Random()
    started = time.monotonic()
    # One kill per transaction style: `with db:`, explicit commit(), and the per-request guard.
    for cycle, style in enumerate(("with", "commit", "per_request")):
        proc, port = start_writer(db, style)
        stop = threading.Event()
        acknowledged: list[str] = []
        errors: list[str] = []
        threads = [threading.Thread(target=hammer, args=(port, f"{style}{t}", stop, acknowledged, errors,
                                                         rng.random()), daemon=True)
                   for t in range(4)]
        try:
            for thread in threads:
                thread.start()
            # Let some writes be acknowledged, then kill at a random moment of the load.
            deadline = time.monotonic() + 10
            while len(acknowledged) < 20 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.05, 1.0))
            assert proc.poll() is None, "the writer died on its own"
            in_flight = len(acknowledged)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
            stop_process(proc)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == [], f"{style}: writes answered with something other than ok: {errors[:5]}"
        assert in_flight >= 20, f"{style}: only {in_flight} writes were acknowledged before the kill"
        all_acknowledged += acknowledged
        # The file as the kill left it (SQLite recovers the WAL on open): nothing acknowledged is missing.
        check_database(db, all_acknowledged)

    # A restart on the same file serves writes again, and everything is still there.
    proc, port = start_writer(db, "with")
    try:
        assert write(port, "after-restart", 3, b"x" * 100)
        status, body = http(port, "GET", "/count")
        assert status == 200
    finally:
        stop_process(proc)
    count = check_database(db, all_acknowledged + ["after-restart"])
    assert count >= len(all_acknowledged) + 1
    print(f"\n{len(all_acknowledged)} acknowledged writes checked after 3 kills in "
          f"{time.monotonic() - started:.1f}s")


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    db = tmp_path / "shared.sqlite3"
    proc, port = start_writer(db, "with")
    try:
        yield db, port
    finally:
        stop_process(proc)


def test_another_process_writes_between_requests_without_waiting(writer: tuple[Path, int]) -> None:
    db, port = writer
    # timeout=0: any lock kali kept between requests would fail at once with "database is locked".
    other = sqlite3.connect(str(db), timeout=0, isolation_level=None)
    try:
        for i in range(30):
            assert write(port, f"kali-{i}", 2, b"k" * 50)
            other.execute("BEGIN IMMEDIATE")
            cursor = other.execute("INSERT INTO parent (token, children, size) VALUES (?, 0, 0)", (f"other-{i}",))
            assert cursor.rowcount == 1
            other.execute("COMMIT")
            # Each side sees the other's rows straight away: nobody holds an old snapshot.
            assert other.execute("SELECT count(*) FROM parent").fetchone()[0] == 2 * (i + 1)
            status, body = http(port, "GET", "/count")
            assert (status, body) == (200, b'{"parents":%d}' % (2 * (i + 1)))
    finally:
        other.close()


def test_another_process_reads_writes_and_backs_up_during_load(writer: tuple[Path, int], tmp_path: Path) -> None:
    db, port = writer
    stop = threading.Event()
    acknowledged: list[str] = []
    errors: list[str] = []
    threads = [threading.Thread(target=hammer, args=(port, f"load{t}", stop, acknowledged, errors, t), daemon=True)
               for t in range(3)]
    for thread in threads:
        thread.start()
    failures: list[str] = []
    other = sqlite3.connect(str(db), timeout=5, isolation_level=None)
    try:
        for i in range(60):
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("INSERT INTO parent (token, children, size) VALUES (?, 0, 0)", (f"ext-{i}",))
                other.execute("COMMIT")
                other.execute("SELECT count(*) FROM child").fetchone()
            except sqlite3.OperationalError as exc:
                failures.append(str(exc))
                if other.in_transaction:
                    other.execute("ROLLBACK")
            if i == 30:
                # A backup tool copying the live file gets a consistent database.
                backup = sqlite3.connect(str(tmp_path / "backup.sqlite3"))
                other.backup(backup)
                assert backup.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                backup.close()
            time.sleep(0.005)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        other.close()
    assert failures == []
    assert errors == [], f"kali failed writes while another process wrote: {errors[:5]}"
    assert len(acknowledged) >= 10
    check_database(db, acknowledged + [f"ext-{i}" for i in range(60)])

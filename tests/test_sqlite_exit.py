"""Databases are checkpointed and closed at exit: after a normal exit or SIGTERM, the .sqlite3 file alone holds every committed row."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kali.sqlite import close_all_databases, open_database
from support import ROOT, query_the_file_alone, stop_process
from test_sqlite_durability import http, start_writer, write

SCHEMA = "CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"


def rows_in_the_file_alone(db: Path, tmp_path: Path) -> set[str]:
    """The tokens a copy of the .sqlite3 file alone holds (no -wal, no -shm beside it)."""
    return {row[0] for row in query_the_file_alone(db, tmp_path, "SELECT token FROM parent")}


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("way_out", ["normal exit", "SIGTERM"])
def test_after_the_app_exits_the_sqlite3_file_alone_holds_every_committed_row(tmp_path: Path, way_out: str) -> None:
    db = tmp_path / "writer.sqlite3"
    proc, port = start_writer(db, "with")
    # Another program keeps the database open (a second app, the sqlite3 shell): SQLite's own
    # checkpoint when the *last* connection closes does not happen, so only kali's can empty the WAL.
    other = sqlite3.connect(db, isolation_level=None)
    try:
        acknowledged = [f"row-{i}" for i in range(25)]
        for token in acknowledged:
            assert write(port, token, 2, b"x" * 200)
        assert other.execute("SELECT count(*) FROM parent").fetchone()[0] == 25
        assert os.path.getsize(f"{db}-wal") > 0       # the rows are in the WAL so far
        if way_out == "normal exit":
            status, body = http(port, "POST", "/quit")
            assert (status, body) == (200, b"bye\n")
            assert proc.wait(10) == 0
        else:
            proc.terminate()
            assert proc.wait(10) == 0
        assert rows_in_the_file_alone(db, tmp_path) == set(acknowledged)
        assert os.path.getsize(f"{db}-wal") == 0      # TRUNCATE: emptied, not just copied
    finally:
        other.close()
        stop_process(proc)


def test_close_all_databases_checkpoints_closes_and_can_run_twice(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    first = open_database(tmp_path / "a.sqlite3", schema=SCHEMA)
    second = open_database(tmp_path / "b.sqlite3", schema=SCHEMA)
    unrelated = sqlite3.connect(tmp_path / "c.sqlite3")
    holder = sqlite3.connect(tmp_path / "a.sqlite3")        # keeps a.sqlite3's WAL from going away on close
    holder.execute("SELECT count(*) FROM note").fetchone()
    with first:
        first.execute("INSERT INTO note (text) VALUES ('kept')")
    second.execute("INSERT INTO note (text) VALUES ('left open')")     # a forgotten transaction
    second.close()
    second = open_database(tmp_path / "b.sqlite3", schema=SCHEMA)
    second.execute("INSERT INTO note (text) VALUES ('left open')")
    assert os.path.getsize(tmp_path / "a.sqlite3-wal") > 0

    close_all_databases()
    for db in (first, second):
        with pytest.raises(sqlite3.ProgrammingError):
            db.execute("SELECT 1")
    assert unrelated.execute("SELECT 1").fetchone() == (1,)          # not kali's to close
    assert os.path.getsize(tmp_path / "a.sqlite3-wal") == 0
    assert "was still open at exit; it was rolled back" in caplog.text
    assert holder.execute("SELECT text FROM note").fetchall() == [("kept",)]
    check = sqlite3.connect(tmp_path / "b.sqlite3")
    assert check.execute("SELECT count(*) FROM note").fetchone()[0] == 0
    check.close()
    close_all_databases()       # nothing left to do, and no error
    holder.close()
    unrelated.close()


def test_a_database_inherited_through_fork_is_left_to_its_parent(tmp_path: Path) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("POSIX fork")
    script = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
from kali.sqlite import open_database
db = open_database({str(tmp_path / 'f.sqlite3')!r}, schema={SCHEMA!r})
with db:
    db.execute("INSERT INTO note (text) VALUES ('parent')")
from kali.sqlite import close_all_databases
pid = os.fork()
if pid == 0:
    # The child must not checkpoint or close the connection it inherited (SQLite forbids using
    # it across fork), neither when told to nor at its exit.
    close_all_databases()
    try:
        db.total_changes
    except Exception:
        os._exit(3)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
with db:
    db.execute("INSERT INTO note (text) VALUES ('after the child')")
print(db.execute("SELECT count(*) FROM note").fetchone()[0])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert "Error" not in done.stderr

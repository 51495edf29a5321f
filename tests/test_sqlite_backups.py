"""db.backup() and open_database(backups=N): checked copies beside the database, once a day, rotated."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from kali.backups import dated_backups
from kali.sqlite import DEFAULT_BACKUPS, Database, open_database

SCHEMA = "CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"
NAME = re.compile(r"notes-(\d{4}-\d\d-\d\d)-(\d{6})-v(\d+)(-\d+)?\.sqlite3")


def notes(tmp_path: Path, *texts: str, backups: int = 0) -> Database:
    db = open_database(tmp_path / "notes.sqlite3", schema=SCHEMA, migrations=["SELECT 1"], backups=backups)
    with db:
        db.executemany("INSERT INTO note (text) VALUES (?)", [(t,) for t in texts])
    return db


def rows_in(path: Path) -> list[str]:
    copy = sqlite3.connect(path)
    try:
        return [row[0] for row in copy.execute("SELECT text FROM note ORDER BY id")]
    finally:
        copy.close()


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def test_backup_writes_a_checked_copy_named_with_date_time_and_version(tmp_path: Path) -> None:
    db = notes(tmp_path, "milk", "eggs")
    made = db.backup()
    assert isinstance(made, Path) and made.parent == tmp_path / "backups"
    found = NAME.fullmatch(made.name)
    assert found is not None, made.name
    assert found.group(1) == dt.date.today().isoformat() and found.group(3) == "1"     # schema version 1
    assert rows_in(made) == ["milk", "eggs"]
    copy = sqlite3.connect(made)
    assert copy.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert copy.execute("PRAGMA user_version").fetchone()[0] == 1
    copy.close()
    # Only the finished copy is left: no temporary file, no journal.
    assert listing(tmp_path / "backups") == [made.name]
    # A second one within the same second gets a name of its own.
    second = db.backup()
    assert second != made and second.exists() and made.exists()
    db.close()


def test_a_backup_inside_a_transaction_holds_what_was_committed(tmp_path: Path) -> None:
    db = notes(tmp_path, "milk")
    with db:
        db.execute("INSERT INTO note (text) VALUES ('not yet')")
        made = db.backup(tmp_path / "during.sqlite3")
    assert rows_in(made) == ["milk"]
    db.close()


def test_backup_to_a_named_file_or_folder_and_never_over_the_database(tmp_path: Path) -> None:
    db = notes(tmp_path, "milk")
    target = tmp_path / "elsewhere" / "copy.sqlite3"
    assert db.backup(target) == target and rows_in(target) == ["milk"]
    with db:
        db.execute("INSERT INTO note (text) VALUES ('eggs')")
    assert db.backup(path=str(target)) == target and rows_in(target) == ["milk", "eggs"]     # replaced
    usb = tmp_path / "usb"
    usb.mkdir()
    in_folder = db.backup(usb)
    assert in_folder.parent == usb and NAME.fullmatch(in_folder.name)
    with pytest.raises(ValueError, match="would overwrite the database itself"):
        db.backup(tmp_path / "notes.sqlite3")
    with pytest.raises(TypeError, match="one path"):
        db.backup(target, path=target)  # type: ignore[call-overload]
    assert rows_in(tmp_path / "notes.sqlite3") == ["milk", "eggs"]
    db.close()


def test_the_standard_librarys_backup_into_a_connection_still_works(tmp_path: Path) -> None:
    db = notes(tmp_path, "milk")
    target = sqlite3.connect(":memory:")
    assert db.backup(target) is None
    assert [row[0] for row in target.execute("SELECT text FROM note")] == ["milk"]
    pages: list[int] = []
    target2 = sqlite3.connect(":memory:")
    db.backup(target2, pages=1, progress=lambda status, remaining, total: pages.append(total))
    assert pages and target2.execute("SELECT count(*) FROM note").fetchone()[0] == 1
    db.close()


def test_an_in_memory_database_needs_a_path(tmp_path: Path) -> None:
    db = open_database(":memory:", schema=SCHEMA)
    with db:
        db.execute("INSERT INTO note (text) VALUES ('milk')")
    with pytest.raises(ValueError, match="in-memory database has no folder"):
        db.backup()
    assert rows_in(db.backup(tmp_path / "memory.sqlite3")) == ["milk"]
    with db:
        with pytest.raises(sqlite3.OperationalError, match="commit first"):
            db.backup(tmp_path / "again.sqlite3")
    db.close()


def fake_backup(tmp_path: Path, source: Path, when: dt.datetime, suffix: str = "") -> Path:
    """A copy named as if made at `when`."""
    target = tmp_path / "backups" / f"notes-{when:%Y-%m-%d-%H%M%S}-v1{suffix}.sqlite3"
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(source, target)
    return target


def test_opening_makes_a_backup_once_a_day_and_keeps_the_newest_n(tmp_path: Path) -> None:
    db = notes(tmp_path, "milk")
    seed = db.backup(tmp_path / "seed.sqlite3")
    db.close()
    now = dt.datetime.now()
    old = [fake_backup(tmp_path, seed, now - dt.timedelta(days=days)) for days in (5, 4, 3, 2, 1)]
    before_migration = fake_backup(tmp_path, seed, now - dt.timedelta(days=30), "-before-migration")

    db = open_database(tmp_path / "notes.sqlite3", schema=SCHEMA, migrations=["SELECT 1"], backups=3)
    db.close()
    kept = [backup.path for backup in dated_backups(tmp_path / "notes.sqlite3")]
    assert len(kept) == 3
    assert kept[:2] == old[-2:]                         # the two newest old ones...
    assert kept[2].name.startswith(f"notes-{dt.date.today():%Y-%m-%d}-")     # ...and today's
    assert rows_in(kept[2]) == ["milk"]
    assert before_migration.exists()                    # never part of the rotation

    # The same day again: no second backup.
    db = open_database(tmp_path / "notes.sqlite3", schema=SCHEMA, migrations=["SELECT 1"], backups=3)
    db.close()
    assert [backup.path for backup in dated_backups(tmp_path / "notes.sqlite3")] == kept


def test_backups_zero_makes_none_and_deletes_none(tmp_path: Path) -> None:
    db = notes(tmp_path, "milk")
    seed = db.backup(tmp_path / "seed.sqlite3")
    db.close()
    old = fake_backup(tmp_path, seed, dt.datetime.now() - dt.timedelta(days=2))
    open_database(tmp_path / "notes.sqlite3", schema=SCHEMA, migrations=["SELECT 1"], backups=0).close()
    assert listing(tmp_path / "backups") == [old.name]


def test_the_default_keeps_a_handful_and_a_new_database_is_not_backed_up(tmp_path: Path) -> None:
    assert 3 <= DEFAULT_BACKUPS <= 10
    file = tmp_path / "notes.sqlite3"
    db = open_database(file, schema=SCHEMA)
    with db:
        db.execute("INSERT INTO note (text) VALUES ('milk')")
    db.close()
    assert listing(tmp_path / "backups") == []          # made just now: nothing to back up yet
    open_database(file, schema=SCHEMA).close()
    assert len(dated_backups(file)) == 1


def test_workers_opening_together_make_one_backup_between_them(tmp_path: Path) -> None:
    notes(tmp_path, "milk").close()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            open_database(tmp_path / "notes.sqlite3", schema=SCHEMA, migrations=["SELECT 1"], backups=5).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(dated_backups(tmp_path / "notes.sqlite3")) == 1


def test_a_daily_backup_that_cannot_be_written_does_not_stop_the_app(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    notes(tmp_path, "milk").close()
    (tmp_path / "backups").write_text("a file where the folder should be")
    db = open_database(tmp_path / "notes.sqlite3", schema=SCHEMA, migrations=["SELECT 1"], backups=3)
    assert rows_in(tmp_path / "notes.sqlite3") == ["milk"]
    db.close()
    assert "could not make today's backup of" in caplog.text


def test_backups_must_be_a_count(tmp_path: Path) -> None:
    for wrong in (-1, True, 2.5, "7"):
        with pytest.raises(ValueError, match="backups is how many daily backups to keep"):
            open_database(tmp_path / "x.sqlite3", backups=wrong)  # type: ignore[arg-type]

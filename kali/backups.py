"""Backups of an SQLite database: online, consistent copies that are checked before they count, and their rotation.

A copy is made through SQLite's backup API (other processes may go on reading
and writing), into a temporary name; it is switched to a single-file journal,
checked with `PRAGMA quick_check`, fsynced and only then renamed into place,
so a file with a backup's name is always a whole, readable database.

By default copies go to a `backups/` folder beside the database, named
`<stem>-YYYY-MM-DD-HHMMSS-v<version><suffix>` (the schema version, for a copy
that must be opened by the matching app). Those are the rotated ones; a copy
made before migrating is named `...-before-migration<suffix>` and is never
deleted by the rotation.
"""

from __future__ import annotations

import datetime
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import NamedTuple

from .log import get_logger

__all__ = ["BACKUP_FOLDER", "backup_path", "copy_database", "dated_backups", "rotate_backups",
           "has_backup_from"]

logger = get_logger()

#: The folder, beside the database file, where backups go unless told otherwise.
BACKUP_FOLDER = "backups"

_MARKER_BEFORE_MIGRATION = "-before-migration"


def _stem_and_suffix(database: Path) -> tuple[str, str]:
    return database.stem, database.suffix or ".sqlite3"


def backup_path(database: Path, version: int, *, before_migration: bool = False,
                when: datetime.datetime | None = None, folder: Path | None = None) -> Path:
    """A free name for a new backup of `database` in `folder` (default: backups/ beside it)."""
    when = when or datetime.datetime.now()
    folder = folder if folder is not None else database.parent / BACKUP_FOLDER
    stem, suffix = _stem_and_suffix(database)
    base = f"{stem}-{when:%Y-%m-%d-%H%M%S}-v{version:d}{_MARKER_BEFORE_MIGRATION if before_migration else ''}"
    candidate = folder / f"{base}{suffix}"
    number = 2
    while candidate.exists():
        # Two copies within one second (a backup just before a migration, a test) keep both.
        candidate = folder / f"{base}-{number}{suffix}"
        number += 1
    return candidate


class DatedBackup(NamedTuple):
    """A rotated backup found in the folder: when it was made and where it is."""

    when: datetime.datetime
    number: int
    path: Path


def dated_backups(database: Path, folder: Path | None = None) -> list[DatedBackup]:
    """The rotated backups of `database` (not those made before migrations), oldest first."""
    folder = folder if folder is not None else database.parent / BACKUP_FOLDER
    stem, suffix = _stem_and_suffix(database)
    pattern = re.compile(rf"{re.escape(stem)}-(\d{{4}}-\d\d-\d\d-\d{{6}})-v\d+(?:-(\d+))?{re.escape(suffix)}")
    found = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        try:
            when = datetime.datetime.strptime(match.group(1), "%Y-%m-%d-%H%M%S")
        except ValueError:
            continue
        found.append(DatedBackup(when, int(match.group(2) or 1), folder / name))
    found.sort()
    return found


def has_backup_from(database: Path, day: datetime.date, folder: Path | None = None) -> bool:
    """Whether a rotated backup of `database` was made on `day` (local time)."""
    return any(backup.when.date() == day for backup in dated_backups(database, folder))


def rotate_backups(database: Path, keep: int, folder: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` rotated backups; returns what was deleted."""
    backups = dated_backups(database, folder)
    deleted = []
    for backup in backups[:max(0, len(backups) - keep)]:
        try:
            backup.path.unlink()
            deleted.append(backup.path)
        except FileNotFoundError:
            pass        # another process rotated at the same moment
    return deleted


def copy_database(source: sqlite3.Connection, destination: Path, *, source_file: str | None = None,
                  busy_timeout: float = 5.0) -> Path:
    """Copy a database to `destination` through the backup API: temporary name, quick_check, fsync, rename.

    With `source_file` the copy is read through a connection of its own, so it holds
    only committed data and works while `source` is inside a transaction; an
    in-memory database is read through `source` itself, which must not be.
    """
    destination = Path(destination)
    folder = destination.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A name of its own (not just the pid): two threads or processes may back up at the same moment.
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial", dir=folder)
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        if source_file is not None:
            reader = sqlite3.connect(source_file, timeout=busy_timeout, isolation_level=None)
        else:
            if source.in_transaction:
                # SQLite refuses to read a database for a backup while the same connection
                # writes to it, and Python would wait for that forever.
                raise sqlite3.OperationalError("cannot back up an in-memory database from inside a "
                                               "transaction: commit first")
            reader = source
        target = sqlite3.connect(temporary, isolation_level=None)
        try:
            sqlite3.Connection.backup(reader, target)
            # The copy inherits WAL mode from the header; a backup should be one self-contained file.
            target.execute("PRAGMA journal_mode=DELETE")
            verdict = [row[0] for row in target.execute("PRAGMA quick_check")]
        finally:
            target.close()
            if reader is not source:
                reader.close()
        if verdict != ["ok"]:
            raise sqlite3.DatabaseError(f"the backup copy {destination} failed its check "
                                        f"(PRAGMA quick_check): {'; '.join(map(str, verdict[:5]))}")
        _fsync_file(temporary)
        os.replace(temporary, destination)
        _fsync_folder(folder)
    except BaseException:
        _remove(temporary)
        raise
    return destination


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-journal")):
        try:
            leftover.unlink()
        except FileNotFoundError:
            pass


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk (POSIX; Windows has no
    # directory handles to sync and commits the rename itself).
    if os.name == "nt":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:
        pass        # some file systems refuse fsync on a folder; the file itself is synced
    finally:
        os.close(descriptor)

"""open_database(schema=..., migrations=...): versions, migrations with a backup first, a newer database refused, the drift check."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kali.migrations import split_statements
from kali.sqlite import (MigrationError, NewerDatabaseError, SchemaDriftError, open_database)

# Version 1 of a small tool: books with a title.
SCHEMA_V1 = """
CREATE TABLE book (
    id    INTEGER PRIMARY KEY,
    title TEXT NOT NULL
);
"""

# Version 2 adds a genre and an index on it; schema.sql always describes the latest version.
SCHEMA_V2 = """
CREATE TABLE book (
    id    INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    genre TEXT NOT NULL DEFAULT ''
);
CREATE INDEX book_by_genre ON book (genre);
"""

ADD_GENRE = """-- version 1 -> 2: books get a genre
ALTER TABLE book ADD COLUMN genre TEXT NOT NULL DEFAULT '';
CREATE INDEX book_by_genre ON book (genre);
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def version_one(tmp_path: Path, titles: tuple[str, ...] = ("Dune", "Emma")) -> Path:
    """A database made by version 1 of the app (no migrations yet, so at version 0), with some books."""
    file = tmp_path / "books.sqlite3"
    db = open_database(file, schema=write(tmp_path / "schema_v1.sql", SCHEMA_V1), backups=0)
    with db:
        db.executemany("INSERT INTO book (title) VALUES (?)", [(t,) for t in titles])
    db.close()
    return file


def backups_of(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "backups").glob("*")) if (folder / "backups").is_dir() else []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- a new database ------------------------------------------------------------------------

def test_a_new_database_gets_the_schema_and_the_latest_version_without_running_migrations(tmp_path: Path) -> None:
    ran: list[int] = []
    db = open_database(tmp_path / "new.sqlite3", schema=SCHEMA_V2,
                       migrations=[lambda db: ran.append(0), lambda db: ran.append(1)])
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert ran == []
    assert [row[1] for row in db.execute("PRAGMA table_info(book)")] == ["id", "title", "genre"]
    db.close()
    assert backups_of(tmp_path) == []       # nothing to back up in a database made just now


def test_without_a_schema_migrations_build_a_new_database_from_version_0(tmp_path: Path) -> None:
    db = open_database(tmp_path / "new.sqlite3", migrations=[SCHEMA_V1, ADD_GENRE])
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [row[1] for row in db.execute("PRAGMA table_info(book)")] == ["id", "title", "genre"]
    db.close()
    assert backups_of(tmp_path) == []


# -- migrating -----------------------------------------------------------------------------

def test_data_survives_a_migration_and_the_backup_before_it_holds_the_old_version(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    migration = write(tmp_path / "002_genre.sql", ADD_GENRE)
    db = open_database(file, schema=write(tmp_path / "schema.sql", SCHEMA_V2), migrations=[migration])
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert [tuple(row) for row in db.execute("SELECT title, genre FROM book ORDER BY id")] == [("Dune", ""), ("Emma", "")]
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1       # back on after migrating
    db.close()

    before = [name for name in backups_of(tmp_path) if "before-migration" in name]
    assert len(before) == 1 and before[0].startswith("books-") and "-v0-before-migration" in before[0]
    old = sqlite3.connect(tmp_path / "backups" / before[0])
    try:
        assert old.execute("PRAGMA user_version").fetchone()[0] == 0
        assert [row[1] for row in old.execute("PRAGMA table_info(book)")] == ["id", "title"]
        assert [row[0] for row in old.execute("SELECT title FROM book ORDER BY id")] == ["Dune", "Emma"]
        assert old.execute("PRAGMA journal_mode").fetchone()[0] == "delete"     # one self-contained file
    finally:
        old.close()


@pytest.mark.parametrize("form", ["text", "path", "str path", "function"])
def test_every_form_of_migration(tmp_path: Path, form: str) -> None:
    file = version_one(tmp_path)
    migration: Any
    if form == "text":
        migration = ADD_GENRE
    elif form == "path":
        migration = write(tmp_path / "m.sql", ADD_GENRE)
    elif form == "str path":
        write(tmp_path / "m.sql", ADD_GENRE)
        migration = str(tmp_path / "m.sql")
    else:
        def migration(db: sqlite3.Connection) -> None:
            db.execute("ALTER TABLE book ADD COLUMN genre TEXT NOT NULL DEFAULT ''")
            db.execute("CREATE INDEX book_by_genre ON book (genre)")
            db.execute("UPDATE book SET genre = 'novel'")
    db = open_database(file, schema=SCHEMA_V2, migrations=[migration], backups=0)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM book").fetchone()[0] == 2
    db.close()


def test_pending_migrations_run_in_order_and_only_once(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    calls: list[str] = []

    def fill_genres(db: sqlite3.Connection) -> None:
        calls.append("fill")
        db.execute("UPDATE book SET genre = 'classic' WHERE title = 'Emma'")

    migrations = [ADD_GENRE, fill_genres]
    db = open_database(file, schema=SCHEMA_V2, migrations=migrations, backups=0)
    assert db.execute("SELECT genre FROM book WHERE title = 'Emma'").fetchone()[0] == "classic"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()
    db = open_database(file, schema=SCHEMA_V2, migrations=migrations, backups=0)
    db.close()
    assert calls == ["fill"]


def test_with_db_inside_a_migration_function_is_a_savepoint_not_a_commit(tmp_path: Path) -> None:
    file = version_one(tmp_path)

    def add_genre_then_fail(db: Any) -> None:
        with db:
            db.execute("ALTER TABLE book ADD COLUMN genre TEXT NOT NULL DEFAULT ''")
        raise RuntimeError("something the migration noticed")

    with pytest.raises(MigrationError) as caught:
        open_database(file, schema=SCHEMA_V2, migrations=[add_genre_then_fail], backups=0)
    message = str(caught.value)
    assert "migration 0 (version 0 → 1, " in message and "add_genre_then_fail() in " in message
    assert __file__ in message and "RuntimeError: something the migration noticed" in message
    check = sqlite3.connect(file)
    assert [row[1] for row in check.execute("PRAGMA table_info(book)")] == ["id", "title"]   # the column is gone
    assert check.execute("PRAGMA user_version").fetchone()[0] == 0
    check.close()


def test_a_failing_migration_names_itself_and_leaves_the_last_good_version_intact(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    broken = write(tmp_path / "003_authors.sql",
                   "-- version 2 -> 3\nCREATE TABLE author (id INTEGER PRIMARY KEY);\n\n"
                   "INSERT INTO author (id, name)\n  SELECT id, title FROM book;\n")
    with pytest.raises(MigrationError) as caught:
        open_database(file, schema=SCHEMA_V2, migrations=[ADD_GENRE, broken], backups=0)
    error = caught.value
    assert error.index == 1
    assert error.statement is not None and error.statement.startswith("INSERT INTO author (id, name)")
    message = str(error)
    assert f"migration 1 (version 1 → 2), {broken}:4 failed: table author has no column named name" in message
    assert "INSERT INTO author (id, name)" in message and "still at version 1" in message

    check = sqlite3.connect(file)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 1            # the first one stayed
        assert check.execute("SELECT name FROM sqlite_master WHERE name = 'author'").fetchone() is None
        assert [tuple(r) for r in check.execute("SELECT title, genre FROM book ORDER BY id")] == [("Dune", ""), ("Emma", "")]
    finally:
        check.close()
    # The backup made before migrating still holds version 0.
    before = [name for name in backups_of(tmp_path) if "before-migration" in name]
    assert len(before) == 1 and "-v0-" in before[0]


def test_a_migration_that_commits_by_itself_is_reported(tmp_path: Path) -> None:
    file = version_one(tmp_path)

    def commits(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE book ADD COLUMN genre TEXT NOT NULL DEFAULT ''")
        db.execute("COMMIT")

    with pytest.raises(MigrationError, match=r"ended the migration's transaction itself .* must not commit"):
        open_database(file, schema=SCHEMA_V2, migrations=[commits], backups=0)
    check = sqlite3.connect(file)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 0
    check.close()


PARENTS = """
CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT NOT NULL,
                   author_id INTEGER REFERENCES author (id) ON DELETE CASCADE);
"""


def test_rebuilding_a_parent_table_does_not_cascade_and_broken_foreign_keys_roll_back(tmp_path: Path) -> None:
    file = tmp_path / "library.sqlite3"
    db = open_database(file, schema=PARENTS, backups=0)
    with db:
        db.execute("INSERT INTO author (id, name) VALUES (1, 'Austen')")
        db.execute("INSERT INTO book (title, author_id) VALUES ('Emma', 1)")
    db.close()
    # SQLite's way to change a table: build the new one, copy, drop the old, rename. With
    # foreign keys on, DROP TABLE author would delete every book (ON DELETE CASCADE).
    rebuild = """
    CREATE TABLE author_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, born INTEGER);
    INSERT INTO author_new (id, name) SELECT id, name FROM author;
    DROP TABLE author;
    ALTER TABLE author_new RENAME TO author;
    """
    latest = PARENTS.replace("name TEXT NOT NULL)", "name TEXT NOT NULL, born INTEGER)")
    db = open_database(file, schema=latest, migrations=[rebuild], backups=0)
    assert db.execute("SELECT count(*) FROM book").fetchone()[0] == 1
    db.close()

    orphan = "INSERT INTO book (title, author_id) VALUES ('Nobody''s', 99);"
    with pytest.raises(MigrationError, match=r"table book row 2 refers to a missing row in author"):
        open_database(file, schema=latest, migrations=[rebuild, orphan], backups=0)
    check = sqlite3.connect(file)
    assert check.execute("SELECT count(*) FROM book").fetchone()[0] == 1
    assert check.execute("PRAGMA user_version").fetchone()[0] == 1
    check.close()


def test_two_processes_starting_together_run_a_migration_once(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    runs: list[int] = []
    errors: list[BaseException] = []

    def slow_genre(db: sqlite3.Connection) -> None:
        runs.append(threading.get_ident())
        time.sleep(0.3)     # long enough for the other opener to be waiting on the write lock
        db.execute("ALTER TABLE book ADD COLUMN genre TEXT NOT NULL DEFAULT ''")
        db.execute("CREATE INDEX book_by_genre ON book (genre)")

    def opener() -> None:
        try:
            open_database(file, schema=SCHEMA_V2, migrations=[slow_genre], backups=0).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(runs) == 1


def test_missing_migration_files_and_wrong_types_stop_before_anything_is_written(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    before = digest(file)
    with pytest.raises(FileNotFoundError, match=r"the migration 1 file .*002_missing\.sql does not exist"):
        open_database(file, schema=SCHEMA_V2, migrations=[ADD_GENRE, str(tmp_path / "002_missing.sql")])
    with pytest.raises(TypeError, match=r"migrations\[0\] must be SQL text, a path to a \.sql file or a function"):
        open_database(file, migrations=[42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="migrations must be a sequence"):
        open_database(file, migrations=ADD_GENRE)  # type: ignore[arg-type]
    assert digest(file) == before
    assert backups_of(tmp_path) == []


# -- a newer database --------------------------------------------------------------------------

def test_a_newer_database_is_refused_unchanged(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    db = open_database(file, schema=SCHEMA_V2, migrations=[ADD_GENRE, "CREATE TABLE shelf (id INTEGER PRIMARY KEY)"],
                       check_schema=False, backups=0)
    db.close()
    # As another tool might leave it: a rollback journal, so even switching to WAL would show.
    plain = sqlite3.connect(file)
    plain.execute("PRAGMA journal_mode=DELETE")
    plain.close()
    files_before = sorted(os.listdir(tmp_path))
    bytes_before = digest(file)

    with pytest.raises(NewerDatabaseError) as caught:
        open_database(file, schema=SCHEMA_V2, migrations=[ADD_GENRE])
    assert caught.value.database_version == 2 and caught.value.code_version == 1
    assert "is at version 2, but this app knows only up to version 1" in str(caught.value)
    assert str(file) in str(caught.value)
    assert digest(file) == bytes_before
    assert sorted(os.listdir(tmp_path)) == files_before      # no backup, no -wal left behind


# -- the drift check -------------------------------------------------------------------------

def test_the_drift_check_turns_no_such_column_into_a_clear_error_at_start_up(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    schema = write(tmp_path / "schema.sql", SCHEMA_V2)
    # The story of the issue: schema.sql gained a column and an index, and no migration.
    with pytest.raises(SchemaDriftError) as caught:
        open_database(file, schema=schema)
    error = caught.value
    assert error.differences == [
        "table book: column genre is in schema.sql but not in the database — add a migration that creates it",
        "index book_by_genre on book (genre) is in schema.sql but not in the database — add a migration that creates it",
    ]
    assert f"the database {file} (version 0) does not match {schema}" in str(error)
    assert "check_schema=False" in str(error)
    # Opting out opens it as before.
    open_database(file, schema=schema, check_schema=False, backups=0).close()


def test_the_drift_check_names_a_dropped_index_and_a_changed_type(tmp_path: Path) -> None:
    file = tmp_path / "books.sqlite3"
    open_database(file, schema=SCHEMA_V2, backups=0).close()
    changed = SCHEMA_V2.replace("genre TEXT NOT NULL DEFAULT ''", "genre INTEGER NOT NULL DEFAULT 0")
    changed = changed.replace("CREATE INDEX book_by_genre ON book (genre);", "")
    with pytest.raises(SchemaDriftError) as caught:
        open_database(file, schema=changed, backups=0)
    assert caught.value.differences == [
        "table book: column genre is of type INTEGER in the schema but of type TEXT in the database — "
        "add a migration that changes it, or change the schema to match",
        "table book: column genre is DEFAULT 0 in the schema but DEFAULT '' in the database — "
        "add a migration that changes it, or change the schema to match",
        "index book_by_genre on book (genre) is in the database but not in the schema — "
        "add it to the schema, or a migration that drops it",
    ]


def test_the_drift_check_compares_constraints_keys_views_and_triggers(tmp_path: Path) -> None:
    stored = """
    CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER REFERENCES author (id));
    CREATE INDEX book_by_title ON book (title);
    CREATE VIEW untitled AS SELECT id FROM book WHERE title IS NULL;
    """
    file = tmp_path / "a.sqlite3"
    open_database(file, schema=stored, backups=0).close()
    wanted = """
    CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT);
    CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT NOT NULL,
                       author_id INTEGER REFERENCES author (id) ON DELETE CASCADE);
    CREATE UNIQUE INDEX book_by_title ON book (title DESC);
    CREATE TRIGGER stamp AFTER INSERT ON book BEGIN SELECT 1; END;
    CREATE TABLE shelf (id TEXT PRIMARY KEY);
    """
    with pytest.raises(SchemaDriftError) as caught:
        open_database(file, schema=wanted, backups=0)
    assert caught.value.differences == [
        "table author: column name is nullable in the schema but NOT NULL in the database — "
        "add a migration that changes it, or change the schema to match",
        "table author: UNIQUE (name) is in the database but not in the schema — add it to the schema, "
        "or a migration that rebuilds the table without it",
        "table book: column title is NOT NULL in the schema but nullable in the database — "
        "add a migration that changes it, or change the schema to match",
        "table book: the foreign key is FOREIGN KEY (author_id) REFERENCES author (id) ON DELETE CASCADE in the "
        "schema but FOREIGN KEY (author_id) REFERENCES author (id) in the database — add a migration that "
        "rebuilds the table, or change the schema to match",
        "table shelf is in the schema but not in the database — add a migration that creates it",
        "index book_by_title is UNIQUE on book (title DESC) in the schema but on book (title) in the database — "
        "add a migration that drops and creates it again",
        "view untitled is in the database but not in the schema — add it to the schema, or a migration that drops it",
        "trigger stamp is in the schema but not in the database — add a migration that creates it",
    ]


def test_no_drift_is_reported_for_the_same_schema_written_differently(tmp_path: Path) -> None:
    file = tmp_path / "a.sqlite3"
    open_database(file, schema=SCHEMA_V2, backups=0).close()
    # Different spacing, case, order of tables and a comment: the same schema.
    same = """-- the same, formatted otherwise
    create index BOOK_BY_GENRE on BOOK(genre);
    """
    same = "create table Book (id integer primary key, TITLE text not null, genre text  not null default '');\n" + same
    open_database(file, schema=same, backups=0).close()


def test_a_migration_made_by_the_book_passes_the_drift_check(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    open_database(file, schema=SCHEMA_V2, migrations=[ADD_GENRE], backups=0).close()
    # ...and every later start checks again, without complaint.
    open_database(file, schema=SCHEMA_V2, migrations=[ADD_GENRE], backups=0).close()


def test_a_broken_schema_file_is_named_even_when_only_the_check_runs_it(tmp_path: Path) -> None:
    file = version_one(tmp_path)
    schema = write(tmp_path / "schema.sql", SCHEMA_V1 + "\nCREATE TABLE oops (;\n")
    with pytest.raises(sqlite3.OperationalError, match=r"schema file .*schema\.sql, line 7: near"):
        open_database(file, schema=schema, backups=0)


def test_split_statements_is_still_importable_from_kali_sqlite() -> None:
    from kali.sqlite import split_statements as from_sqlite
    assert from_sqlite is split_statements
    assert [line for line, _ in split_statements(ADD_GENRE)] == [2, 3]

"""Keeping a database's schema at the code's version: the schema file, numbered migrations, the drift check.

A database's version is `PRAGMA user_version`. `migrations[i]` upgrades a
database from version i to i + 1, so the code's version is `len(migrations)`;
`schema` always describes that latest version and is run only on a database
with no tables. After migrating, the drift check compares the database with
what `schema` creates in a fresh in-memory database and names every
difference, so a column added to schema.sql without a migration is a clear
error at start-up instead of `no such column` on every page.

`open_database()` calls these; they are public for tools and tests.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence, Union

from .patterns import compile_later

__all__ = [
    "Migration", "SchemaError", "MigrationError", "NewerDatabaseError", "SchemaDriftError",
    "load_sql", "load_migrations", "database_version", "run_migration", "run_schema", "run_script",
    "schema_differences", "check_schema", "split_statements",
]

#: What a migration may be: SQL text, a path to a .sql file, or a callable taking the connection.
MigrationSource = Union[str, "os.PathLike[str]", Callable[[sqlite3.Connection], Any]]


class SchemaError(sqlite3.DatabaseError):
    """The database's schema is not what the code expects (the base of the errors below)."""


class MigrationError(SchemaError):
    """A migration failed; it was rolled back and the database stays at the version before it."""

    def __init__(self, message: str, *, index: int, statement: str | None = None) -> None:
        super().__init__(message)
        #: The failed migration's index in `migrations` (it upgrades version `index` to `index + 1`).
        self.index = index
        #: The SQL statement that failed, when the migration is SQL.
        self.statement = statement


class NewerDatabaseError(SchemaError):
    """The database was written by a newer version of the app than the one running."""

    def __init__(self, message: str, *, database_version: int, code_version: int) -> None:
        super().__init__(message)
        self.database_version = database_version
        self.code_version = code_version


class SchemaDriftError(SchemaError):
    """The migrated database differs from what the schema file creates; `differences` lists each one."""

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


# -- SQL text ------------------------------------------------------------------------------

class SQLText(NamedTuple):
    """SQL read from a file or given inline, with a name for error messages."""

    text: str
    #: The file it came from, or None for inline text.
    filename: str | None


def _looks_like_a_path(value: str) -> bool:
    # SQL always has a space or a semicolon somewhere; a file name ending in .sql on one line
    # without a semicolon cannot be a statement SQLite would accept.
    return value.strip().lower().endswith(".sql") and "\n" not in value and ";" not in value


def load_sql(source: str | os.PathLike[str], what: str) -> SQLText:
    """SQL text from `source`: a path (os.PathLike, or a one-line str ending in .sql) or the SQL itself."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_a_path(source)):
        filename = os.fspath(source)
        try:
            return SQLText(Path(filename).read_text(encoding="utf-8"), filename)
        except FileNotFoundError:
            raise FileNotFoundError(f"the {what} file {filename} does not exist") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"the {what} file {filename} is not UTF-8 text: {exc}") from None
    if isinstance(source, str):
        return SQLText(source, None)
    raise TypeError(f"the {what} must be SQL text or a path to a .sql file, not {type(source).__name__}")


def split_statements(script: str) -> Iterator[tuple[int, str]]:
    """Split SQL text into (line number, statement) pairs, respecting strings, comments and triggers."""
    start = 0
    position = script.find(";")
    while position >= 0:
        piece = script[start:position + 1]
        # sqlite3.complete_statement is SQLite's own tokenizer: a ';' inside a string, a
        # comment or a trigger body does not end the statement.
        if sqlite3.complete_statement(piece):
            yield _line_of(script, start), piece
            start = position + 1
        position = script.find(";", position + 1)
    rest = script[start:]
    if re.sub(r"--[^\n]*|/\*.*?\*/", "", rest, flags=re.DOTALL).strip():
        yield _line_of(script, start), rest


_SPACE_AND_COMMENTS = compile_later(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_TRANSACTION_CONTROL = compile_later(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:BEGIN|COMMIT|END)\b",
                                     re.IGNORECASE | re.DOTALL)


def _line_of(script: str, start: int) -> int:
    """The line where the statement starting at `start` has its first word (after comments)."""
    found = _SPACE_AND_COMMENTS.match(script, start)
    return script.count("\n", 0, found.end() if found else start) + 1


def _statement_text(statement: str) -> str:
    """A statement as an error message quotes it: without leading comments, at most a few lines."""
    found = _SPACE_AND_COMMENTS.match(statement)
    text = statement[found.end() if found else 0:].rstrip()
    lines = text.splitlines()
    return "\n".join(lines[:6]) + ("\n..." if len(lines) > 6 else "")


def run_script(db: sqlite3.Connection, sql: SQLText, describe: Callable[[int], str]) -> None:
    """Run every statement of `sql` inside the caller's transaction; `describe(line)` names the place for errors."""
    for line, statement in split_statements(sql.text):
        if _TRANSACTION_CONTROL.match(statement):
            continue     # `sqlite3 .dump` output wraps itself in BEGIN/COMMIT: already in one
        try:
            db.execute(statement)
        except sqlite3.Error as exc:
            raise _StatementFailed(describe(line), _statement_text(statement), exc) from exc


def run_schema(db: sqlite3.Connection, schema: SQLText) -> None:
    """Run a schema script inside the caller's transaction; an error names the file and line."""
    try:
        run_script(db, schema, lambda line: f"schema file {schema.filename or '(inline SQL)'}, line {line}")
    except _StatementFailed as failed:
        raise type(failed.error)(f"{failed.place}: {failed.error}") from failed.error


class _StatementFailed(Exception):
    def __init__(self, place: str, statement: str, error: sqlite3.Error) -> None:
        super().__init__(place)
        self.place = place
        self.statement = statement
        self.error = error


# -- migrations ----------------------------------------------------------------------------

class Migration:
    """One step of `migrations`: what it is (SQL or a callable) and how errors name it."""

    __slots__ = ("index", "sql", "function", "where")

    def __init__(self, index: int, source: MigrationSource) -> None:
        self.index = index
        self.sql: SQLText | None = None
        self.function: Callable[[sqlite3.Connection], Any] | None = None
        if callable(source) and not isinstance(source, (str, os.PathLike)):
            self.function = source
            self.where = _function_place(source)
        else:
            try:
                self.sql = load_sql(source, f"migration {index}")
            except TypeError:
                raise TypeError(f"migrations[{index}] must be SQL text, a path to a .sql file or a "
                                f"function taking the connection, not {type(source).__name__}") from None
            self.where = self.sql.filename or "inline SQL"

    @property
    def name(self) -> str:
        """'migration 2 (version 2 -> 3, migrations/003.sql)' -- how messages refer to it."""
        return f"migration {self.index} (version {self.index} → {self.index + 1}, {self.where})"

    def describe_line(self, line: int) -> str:
        """Where line `line` of this migration's SQL is, for an error message."""
        if self.sql is not None and self.sql.filename is not None:
            return f"migration {self.index} (version {self.index} → {self.index + 1}), {self.sql.filename}:{line}"
        return f"migration {self.index} (version {self.index} → {self.index + 1}), line {line} of its SQL"


def _function_place(function: Callable[..., Any]) -> str:
    import inspect      # only for function migrations: `import kali.sqlite` stays light
    name = getattr(function, "__qualname__", None) or repr(function)
    try:
        code = inspect.unwrap(function).__code__
        return f"{name}() in {code.co_filename}:{code.co_firstlineno}"
    except AttributeError:
        return f"{name}()"


def load_migrations(migrations: Sequence[MigrationSource]) -> list[Migration]:
    """Check and read every migration up front, so a missing file stops start-up before anything is written."""
    if isinstance(migrations, (str, bytes, os.PathLike)) or callable(migrations):
        raise TypeError("migrations must be a sequence (a list or tuple) of migrations, one per version")
    return [Migration(index, source) for index, source in enumerate(migrations)]


def database_version(db: sqlite3.Connection) -> int:
    """The database's schema version (`PRAGMA user_version`)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def run_migration(db: sqlite3.Connection, migration: Migration, begin: Callable[[], Any],
                  commit: Callable[[], None], rollback: Callable[[], None]) -> bool:
    """Run one migration in its own transaction if the database is still at its version.

    `begin`/`commit`/`rollback` manage the transaction (kali.sqlite passes its own, so
    `with db:` inside a migration function becomes a savepoint). Returns False when
    another process had already run it. Foreign keys must be off (the caller's job:
    the pragma cannot change inside a transaction); `PRAGMA foreign_key_check` runs
    before the commit instead, so a migration that rebuilds a table cannot cascade.
    """
    begin()
    try:
        # Read under the write lock: another process may have migrated while we waited.
        if database_version(db) != migration.index:
            rollback()
            return False
        try:
            if migration.sql is not None:
                run_script(db, migration.sql, migration.describe_line)
            else:
                assert migration.function is not None
                migration.function(db)
        except _StatementFailed as failed:
            raise MigrationError(
                f"{failed.place} failed: {failed.error}\n  the statement: {failed.statement}\n"
                f"It was rolled back: the database is still at version {migration.index}, with its data intact.",
                index=migration.index, statement=failed.statement) from failed.error
        except MigrationError:
            raise
        except Exception as exc:
            raise MigrationError(
                f"{migration.name} failed: {type(exc).__name__}: {exc}\n"
                f"It was rolled back: the database is still at version {migration.index}, with its data intact.",
                index=migration.index) from exc
        if not db.in_transaction:
            raise MigrationError(
                f"{migration.name} ended the migration's transaction itself (commit(), executescript() "
                "or COMMIT): what it did before that is saved but the version was not raised. A migration "
                "must not commit; kali commits it together with the new version.", index=migration.index)
        broken = db.execute("PRAGMA foreign_key_check").fetchmany(6)
        if broken:
            shown = "; ".join(f"table {row[0]} row {row[1]} refers to a missing row in {row[2]}"
                              for row in broken[:5])
            raise MigrationError(
                f"{migration.name} left rows whose foreign keys point nowhere: {shown}"
                f"{' (and more)' if len(broken) > 5 else ''}. It was rolled back: the database is still at "
                f"version {migration.index}.", index=migration.index)
        db.execute(f"PRAGMA user_version = {migration.index + 1:d}")
        commit()
        return True
    except BaseException:
        rollback()
        raise


# -- the drift check -----------------------------------------------------------------------

class _Column(NamedTuple):
    name: str
    type: str
    not_null: bool
    default: str | None
    primary_key: int


class _Index(NamedTuple):
    name: str
    table: str
    unique: bool
    columns: tuple[str, ...]
    partial: bool


class _ForeignKey(NamedTuple):
    columns: tuple[str, ...]
    table: str
    to: tuple[str, ...]
    on_update: str
    on_delete: str


class _Table(NamedTuple):
    name: str
    columns: dict[str, _Column]
    unique: frozenset[tuple[str, ...]]
    foreign_keys: frozenset[_ForeignKey]


class _Shape(NamedTuple):
    tables: dict[str, _Table]
    indexes: dict[str, _Index]
    views: dict[str, str]
    triggers: dict[str, str]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _index_columns(db: sqlite3.Connection, index: str) -> tuple[str, ...]:
    columns = []
    for _seqno, cid, name, desc, coll, key in db.execute(f"PRAGMA index_xinfo({_quote(index)})"):
        if not key:
            continue
        text = name if cid >= 0 else ("rowid" if cid == -1 else "(an expression)")
        if coll and coll.upper() != "BINARY":
            text += f" COLLATE {coll.upper()}"
        if desc:
            text += " DESC"
        columns.append(text)
    return tuple(columns)


def _shape(db: sqlite3.Connection) -> _Shape:
    """What the drift check compares: tables (columns, unique constraints, foreign keys), indexes, views, triggers."""
    tables: dict[str, _Table] = {}
    indexes: dict[str, _Index] = {}
    views: dict[str, str] = {}
    triggers: dict[str, str] = {}
    rows = db.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").fetchall()
    for kind, name in rows:
        if kind == "view":
            views[name.lower()] = name
        elif kind == "trigger":
            triggers[name.lower()] = name
        elif kind == "table":
            columns = {}
            for _cid, column, ctype, not_null, default, pk, hidden in db.execute(
                    f"PRAGMA table_xinfo({_quote(name)})"):
                if hidden == 1:
                    continue        # a virtual table's hidden columns
                columns[column.lower()] = _Column(column, " ".join((ctype or "").upper().split()),
                                                  bool(not_null), default, pk)
            unique = set()
            for _seq, index, is_unique, origin, partial in db.execute(f"PRAGMA index_list({_quote(name)})"):
                if origin == "c":
                    indexes[index.lower()] = _Index(index, name, bool(is_unique),
                                                    _index_columns(db, index), bool(partial))
                elif origin == "u":
                    unique.add(_index_columns(db, index))
            keys: dict[int, list[Any]] = {}
            for fid, _seq, target, source, to, on_update, on_delete, _match in db.execute(
                    f"PRAGMA foreign_key_list({_quote(name)})"):
                entry = keys.setdefault(fid, [[], target, [], on_update, on_delete])
                entry[0].append(source)
                entry[2].append(to or "")
            foreign_keys = frozenset(_ForeignKey(tuple(e[0]), e[1], tuple(e[2]), e[3], e[4]) for e in keys.values())
            tables[name.lower()] = _Table(name, columns, frozenset(unique), foreign_keys)
    return _Shape(tables, indexes, views, triggers)


def _describe_column(column: _Column) -> dict[str, str]:
    return {
        "type": f"of type {column.type}" if column.type else "without a type",
        "not_null": "NOT NULL" if column.not_null else "nullable",
        "default": f"DEFAULT {column.default}" if column.default is not None else "without a default",
        "primary_key": (f"part {column.primary_key} of the primary key" if column.primary_key
                        else "not in the primary key"),
    }


def _foreign_key_text(key: _ForeignKey) -> str:
    to = ", ".join(key.to) if any(key.to) else "its primary key"
    text = f"FOREIGN KEY ({', '.join(key.columns)}) REFERENCES {key.table} ({to})"
    if key.on_delete != "NO ACTION":
        text += f" ON DELETE {key.on_delete}"
    if key.on_update != "NO ACTION":
        text += f" ON UPDATE {key.on_update}"
    return text


def _index_text(index: _Index) -> str:
    unique = "UNIQUE " if index.unique else ""
    return f"{unique}on {index.table} ({', '.join(index.columns)}){' WHERE ...' if index.partial else ''}"


def schema_differences(expected: sqlite3.Connection, actual: sqlite3.Connection,
                       schema_name: str = "the schema") -> list[str]:
    """Every difference between the schema `expected` has and the one `actual` has, as sentences saying what to do."""
    want, have = _shape(expected), _shape(actual)
    found: list[str] = []
    create = "add a migration that creates it"
    drop = f"add it to {schema_name}, or a migration that drops it"

    for key in sorted(want.tables.keys() | have.tables.keys()):
        if key not in have.tables:
            found.append(f"table {want.tables[key].name} is in {schema_name} but not in the database — {create}")
            continue
        if key not in want.tables:
            found.append(f"table {have.tables[key].name} is in the database but not in {schema_name} — {drop}")
            continue
        wanted, existing = want.tables[key], have.tables[key]
        table = wanted.name
        for column_key in sorted(wanted.columns.keys() | existing.columns.keys()):
            column = wanted.columns.get(column_key)
            present = existing.columns.get(column_key)
            if present is None:
                assert column is not None
                found.append(f"table {table}: column {column.name} is in {schema_name} but not in the "
                             f"database — {create}")
            elif column is None:
                found.append(f"table {table}: column {present.name} is in the database but not in "
                             f"{schema_name} — {drop}")
            elif column != present._replace(name=column.name):
                said, stored = _describe_column(column), _describe_column(present)
                for aspect in ("type", "not_null", "default", "primary_key"):
                    if said[aspect] != stored[aspect]:
                        found.append(f"table {table}: column {column.name} is {said[aspect]} in {schema_name} "
                                     f"but {stored[aspect]} in the database — add a migration that changes it, "
                                     f"or change {schema_name} to match")
        for columns in sorted(wanted.unique - existing.unique):
            found.append(f"table {table}: UNIQUE ({', '.join(columns)}) is in {schema_name} but not in the "
                         f"database — add a migration that rebuilds the table with it")
        for columns in sorted(existing.unique - wanted.unique):
            found.append(f"table {table}: UNIQUE ({', '.join(columns)}) is in the database but not in "
                         f"{schema_name} — add it to {schema_name}, or a migration that rebuilds the table without it")
        missing_keys = {key[:3]: key for key in wanted.foreign_keys - existing.foreign_keys}
        extra_keys = {key[:3]: key for key in existing.foreign_keys - wanted.foreign_keys}
        for link in sorted(missing_keys.keys() | extra_keys.keys()):
            said_key, stored_key = missing_keys.get(link), extra_keys.get(link)
            if stored_key is None:
                assert said_key is not None
                found.append(f"table {table}: {_foreign_key_text(said_key)} is in {schema_name} but not in the "
                             f"database — add a migration that rebuilds the table with it")
            elif said_key is None:
                found.append(f"table {table}: {_foreign_key_text(stored_key)} is in the database but not in "
                             f"{schema_name} — add it to {schema_name}, or a migration that rebuilds the table "
                             f"without it")
            else:
                found.append(f"table {table}: the foreign key is {_foreign_key_text(said_key)} in {schema_name} "
                             f"but {_foreign_key_text(stored_key)} in the database — add a migration that "
                             f"rebuilds the table, or change {schema_name} to match")

    for key in sorted(want.indexes.keys() | have.indexes.keys()):
        index, present_index = want.indexes.get(key), have.indexes.get(key)
        if present_index is None:
            assert index is not None
            found.append(f"index {index.name} {_index_text(index)} is in {schema_name} but not in the "
                         f"database — {create}")
        elif index is None:
            found.append(f"index {present_index.name} {_index_text(present_index)} is in the database but "
                         f"not in {schema_name} — {drop}")
        elif index._replace(name="", table=index.table.lower()) != present_index._replace(
                name="", table=present_index.table.lower()):
            found.append(f"index {index.name} is {_index_text(index)} in {schema_name} but "
                         f"{_index_text(present_index)} in the database — add a migration that drops and "
                         f"creates it again")

    for kind, wanted_names, existing_names in (("view", want.views, have.views),
                                               ("trigger", want.triggers, have.triggers)):
        for key in sorted(wanted_names.keys() - existing_names.keys()):
            found.append(f"{kind} {wanted_names[key]} is in {schema_name} but not in the database — {create}")
        for key in sorted(existing_names.keys() - wanted_names.keys()):
            found.append(f"{kind} {existing_names[key]} is in the database but not in {schema_name} — {drop}")
    return found


def check_schema(db: sqlite3.Connection, schema: SQLText, *, database_name: str, version: int) -> None:
    """Raise SchemaDriftError listing every way `db` differs from what `schema` creates."""
    reference = sqlite3.connect(":memory:", isolation_level=None)
    try:
        reference.execute("BEGIN")
        run_schema(reference, schema)
        reference.execute("COMMIT")
        schema_name = os.path.basename(schema.filename) if schema.filename else "the schema"
        differences = schema_differences(reference, db, schema_name)
    finally:
        reference.close()
    if differences:
        listed = "\n".join(f"  - {difference}" for difference in differences)
        raise SchemaDriftError(
            f"the database {database_name} (version {version}) does not match "
            f"{schema.filename or 'the schema'}:\n{listed}\n"
            f"The schema describes the latest version; every change to it needs a migration too. "
            f"(open_database(check_schema=False) skips this check.)", differences)

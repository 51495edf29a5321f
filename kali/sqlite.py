"""SQLite for a one-person app: a durable database helper and a guard against forgotten transactions.

kali runs every handler on one thread, so an app can open one connection at
start-up and use it everywhere. Two things make that safe:

* `open_database()` opens the file the way a personal tool should: WAL journal,
  `synchronous=FULL`, foreign keys on, a busy timeout, rows addressable by
  column name, the schema applied on first run, and `with db:` blocks that
  start with `BEGIN IMMEDIATE` (a savepoint when nested).
* `guard(handler, db)` checks every connection after every request. A handler
  that left a transaction open gets it rolled back and the response replaced
  by a 500 page saying so, instead of a page that looks fine while the data
  silently vanishes and every other process sees "database is locked".
  `per_request=True` wraps each request in one transaction instead, committed
  when the response is not an error (like Django's ATOMIC_REQUESTS).

Why `isolation_level="IMMEDIATE"`: Python's sqlite3 keeps its familiar
behaviour (a write opens a transaction, `commit()` or `with db:` ends it), so
code written for the standard library means the same here; an exception
between two writes never leaves half a record behind, because nothing was
committed; and a forgotten commit is something the guard can see and report.
Every write transaction starts with `BEGIN IMMEDIATE`, which takes SQLite's
write lock up front: a transaction that reads and then writes can never fail
half-way with "database is locked" because another process wrote in between.

Why `synchronous=FULL`: in WAL mode, NORMAL survives a killed process but may
lose the last commits on power loss or an OS crash; FULL syncs the WAL on every
commit, so a write that was acknowledged stays written. It costs one fsync per
commit (well under a millisecond on an SSD), which a personal tool never notices.
"""

from __future__ import annotations

import logging
import datetime
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any, Iterator, Literal

from .http import redact_target
from .response import FileBody, Handler, Response, Stream, to_response

__all__ = ["guard", "open_database", "data_folder", "transaction", "Database"]

logger = logging.getLogger("kali")

#: id(connection) -> how many `transaction()` blocks (and per-request guards) are open on it.
#: kali runs application code on one thread, so a plain dict is enough; entries exist only
#: while a block is open, so a recycled id() never meets a stale depth.
_depths: dict[int, int] = {}

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


# -- transactions ----------------------------------------------------------------------

class _Transaction:
    """One transaction block: BEGIN IMMEDIATE at the outermost level, a savepoint inside another."""

    __slots__ = ("connection", "savepoint", "open")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.savepoint: str | None = None
        self.open = False

    def begin(self) -> None:
        connection = self.connection
        key = id(connection)
        depth = _depths.get(key, 0)
        if depth:
            self.savepoint = f"kali_{depth}"
            connection.execute(f"SAVEPOINT {self.savepoint}")
        elif not connection.in_transaction:
            connection.execute("BEGIN IMMEDIATE")
        # else: a write already opened a transaction; like the standard library's `with db:`,
        # this block joins it and commits it at the end.
        _depths[key] = depth + 1
        self.open = True

    def _leave(self) -> None:
        self.open = False
        key = id(self.connection)
        depth = _depths.pop(key, 1) - 1
        if depth > 0:
            _depths[key] = depth

    def commit(self) -> None:
        """Make the block's changes permanent (at the outermost level) or keep them in the outer block."""
        if not self.open:
            return
        self._leave()
        connection = self.connection
        if self.savepoint is not None:
            connection.execute(f"RELEASE {self.savepoint}")
            return
        try:
            _commit(connection)
        except BaseException:
            # A failed COMMIT (a deferred foreign key, a full disk) can leave the transaction
            # open; it must not linger and hold the write lock.
            _rollback_quietly(connection)
            raise

    def rollback(self) -> None:
        """Undo the block's changes; never raises, so it cannot hide the error that caused it."""
        if not self.open:
            return
        self._leave()
        connection = self.connection
        if self.savepoint is not None:
            try:
                connection.execute(f"ROLLBACK TO {self.savepoint}")
                connection.execute(f"RELEASE {self.savepoint}")
            except sqlite3.Error:
                logger.exception("could not roll back to savepoint %s", self.savepoint)
            return
        _rollback_quietly(connection)

    def __enter__(self) -> sqlite3.Connection:
        self.begin()
        return self.connection

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


def transaction(connection: sqlite3.Connection) -> _Transaction:
    """`with transaction(db):` runs the block in one write transaction (BEGIN IMMEDIATE ... COMMIT).

    Nested blocks become savepoints: an exception inside an inner block undoes
    only that block (and propagates). Works on any sqlite3 connection; on a
    `Database` from `open_database()`, `with db:` does the same.
    """
    if not isinstance(connection, sqlite3.Connection):
        raise TypeError(f"transaction() needs an sqlite3 connection, not {type(connection).__name__}")
    return _Transaction(connection)


def _commit(connection: sqlite3.Connection) -> None:
    # Python 3.12's autocommit=True makes commit() a no-op, so COMMIT is sent as SQL there;
    # otherwise commit() is right (with autocommit=False it also opens the next transaction).
    if getattr(connection, "autocommit", None) is True:
        if connection.in_transaction:
            connection.execute("COMMIT")
    else:
        connection.commit()


def _rollback(connection: sqlite3.Connection) -> None:
    if getattr(connection, "autocommit", None) is True:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
    else:
        connection.rollback()


def _rollback_quietly(connection: sqlite3.Connection) -> None:
    try:
        _rollback(connection)
    except sqlite3.Error:
        logger.exception("could not roll back a transaction on %s", _database_name(connection))


class Database(sqlite3.Connection):
    """The connection `open_database()` returns: `with db:` is a `transaction(db)` block."""

    def __enter__(self) -> "Database":
        block = _Transaction(self)
        block.begin()
        self.__dict__.setdefault("_kali_blocks", []).append(block)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        blocks = self.__dict__.get("_kali_blocks")
        if not blocks:
            return super().__exit__(exc_type, exc, tb)
        block = blocks.pop()
        if exc_type is None:
            block.commit()
        else:
            block.rollback()
        return False


# -- opening a database ------------------------------------------------------------------

def data_folder(app_name: str, *, create: bool = True) -> Path:
    """The per-user folder where an app keeps its data (created unless `create=False`).

    `$KALI_DATA_DIR/<app>` when that is set; otherwise `$XDG_DATA_HOME/<app>`
    or `~/.local/share/<app>` on Linux, `~/Library/Application Support/<app>`
    on macOS and `%APPDATA%\\<app>` on Windows.
    """
    if not isinstance(app_name, str) or not app_name.strip() or app_name in (".", "..") \
            or any(sep in app_name for sep in ("/", "\\", "\0")):
        raise ValueError(f"an app name must be a plain folder name, not {app_name!r}")
    override = os.environ.get("KALI_DATA_DIR", "").strip()
    if override:
        base = Path(override).expanduser()
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        # The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    folder = base / app_name
    if create:
        # Private by default: the folder holds one person's data.
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _register_adapters() -> None:
    # Python's own date adapters are deprecated from 3.12; ISO text sorts and compares
    # correctly in SQL and is what SQLite's date functions read.
    sqlite3.register_adapter(datetime.date, datetime.date.isoformat)
    sqlite3.register_adapter(datetime.datetime, lambda value: value.isoformat(" "))
    sqlite3.register_adapter(datetime.time, datetime.time.isoformat)


def open_database(path: str | os.PathLike[str] | None = None, *, app_name: str | None = None,
                  schema: str | os.PathLike[str] | None = None, busy_timeout: float = 5.0,
                  synchronous: str = "FULL", check_same_thread: bool = False) -> Database:
    """Open (or create) an app's SQLite database, durable by default.

    `path` defaults to `data_folder(app_name)/<app_name>.sqlite3`. `schema` is a
    `.sql` file run in one transaction when the database has no tables yet.
    `busy_timeout` is how many seconds to wait for another process's write lock.
    `check_same_thread` is off because kali calls every handler on one thread,
    which need not be the thread that opened the database.  Dates, times and
    datetimes (what the DATE and TIME lenses give) are stored as ISO text.
    """
    _register_adapters()
    if path is None:
        if app_name is None:
            raise ValueError("open_database() needs a path or an app_name (the data folder's name)")
        path = data_folder(app_name) / f"{app_name}.sqlite3"
    name = os.fspath(path)
    in_memory = name == ":memory:" or name == ""
    if not in_memory:
        folder = os.path.dirname(os.path.abspath(name))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"the folder for the database {name} does not exist: {folder}")
    level = str(synchronous).upper()
    if level not in _SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, not {synchronous!r}")
    if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)) or not busy_timeout >= 0:
        raise ValueError(f"busy_timeout is a number of seconds >= 0, not {busy_timeout!r}")
    schema_text = None
    if schema is not None:
        try:
            schema_text = Path(schema).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"the schema file {os.fspath(schema)} does not exist") from None

    try:
        db: Database = sqlite3.connect(name, timeout=busy_timeout, isolation_level="IMMEDIATE",
                                       check_same_thread=check_same_thread, factory=Database)
    except sqlite3.Error as exc:
        raise type(exc)(f"could not open the database {name}: {exc}") from exc
    try:
        db.row_factory = sqlite3.Row
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal" and not in_memory:
            # Network file systems cannot share WAL's memory map; SQLite says so by keeping its mode.
            logger.warning("the database %s could not use WAL (journal mode %s): another process "
                           "reading it may block kali's writes", name, mode)
        db.execute(f"PRAGMA synchronous={level}")
        db.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        db.close()
        # "file is not a database" alone does not say which file.
        raise type(exc)(f"could not open the database {name}: {exc}") from exc
    if schema_text is not None:
        try:
            _apply_schema(db, schema_text, os.fspath(schema))  # type: ignore[arg-type]
        except BaseException:
            db.close()
            raise
    return db


_TRANSACTION_CONTROL = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:BEGIN|COMMIT|END)\b",
                                  re.IGNORECASE | re.DOTALL)


def _apply_schema(db: sqlite3.Connection, script: str, filename: str) -> None:
    """Run a schema script in one transaction if the database has no tables yet."""
    # executescript() would commit first and run the statements one by one outside any
    # transaction; splitting the script ourselves keeps "check empty, create everything"
    # atomic, even if two copies of the app start at once or the first run is killed.
    db.execute("BEGIN IMMEDIATE")
    try:
        count = db.execute("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0]
        if count == 0:
            for line, statement in split_statements(script):
                if _TRANSACTION_CONTROL.match(statement):
                    continue     # `sqlite3 .dump` output wraps itself in BEGIN/COMMIT: already in one
                try:
                    db.execute(statement)
                except sqlite3.Error as exc:
                    raise type(exc)(f"schema file {filename}, line {line}: {exc}") from exc
        _commit(db)
    except BaseException:
        _rollback_quietly(db)
        raise


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


_SPACE_AND_COMMENTS = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


def _line_of(script: str, start: int) -> int:
    """The line where the statement starting at `start` has its first word (after comments)."""
    found = _SPACE_AND_COMMENTS.match(script, start)
    return script.count("\n", 0, found.end() if found else start) + 1


# -- the guard ---------------------------------------------------------------------------

def guard(handler: Handler, *connections: sqlite3.Connection, per_request: bool = False) -> Handler:
    """Wrap `handler` so no request can leave a transaction open on `connections`.

    After each request, an open transaction is rolled back and the response is
    replaced by a 500 page that says so. If the handler raises, its transaction
    is rolled back before the exception reaches the error page. With
    `per_request=True`, each request runs in one transaction (BEGIN IMMEDIATE),
    committed if the response status is below 400 and rolled back otherwise;
    `transaction()` blocks (and `with db:` on a `Database`) inside it become savepoints.

    A streamed body (`Response.stream`) runs after the guard has returned, so it
    must end any transaction it starts; one it leaves open is rolled back (and
    logged) when the stream ends, since its response is already on its way.
    Never yield (least of all a `Pause`) inside a transaction: other requests
    run while a stream waits, and their `with db:` blocks would become
    savepoints inside the stream's transaction, lost if the stream rolls back.
    Read or write in short `with db:` blocks between the yields instead.
    """
    if isinstance(handler, sqlite3.Connection):
        # Connections are callable, so the swapped order would otherwise fail only on the first request.
        raise TypeError("guard(handler, connection, ...) wraps a handler: the handler comes first")
    if not callable(handler):
        raise TypeError(f"guard() wraps a handler (a callable), not {type(handler).__name__}")
    if not connections:
        raise TypeError("guard(handler, connection, ...) needs at least one sqlite3 connection")
    for connection in connections:
        if not isinstance(connection, sqlite3.Connection):
            raise TypeError(f"guard() watches sqlite3 connections, not {type(connection).__name__}")
        if getattr(connection, "autocommit", None) is False:
            raise ValueError("guard() cannot tell a forgotten commit on a connection opened with "
                             "autocommit=False (it is always in a transaction); use open_database(), "
                             "isolation_level=..., or autocommit=True")
    watched = tuple(dict.fromkeys(connections))

    def guarded(request: Any) -> Response:
        # A transaction open now was left by code that ran outside any handler (a streamed
        # body, a timer): it is not this request's fault, and its writes must not be mixed in.
        outer: list[int] = []
        for connection in watched:
            depth = _depths.get(id(connection), 0)
            outer.append(depth)
            if depth == 0 and connection.in_transaction:
                _rollback_quietly(connection)
                logger.error("a transaction on %s was open before %s %s started (left by code outside "
                             "a handler, such as a streamed response); it was rolled back",
                             _database_name(connection), request.method, redact_target(request.target))
        blocks: list[_Transaction] = []
        if per_request:
            try:
                for connection in watched:
                    block = _Transaction(connection)
                    block.begin()
                    blocks.append(block)
            except BaseException as exc:
                # Whatever stopped the second BEGIN, the first must not keep the write lock
                # (and its depth) past this request: other programs would be locked out.
                for block in reversed(blocks):
                    block.rollback()
                if not isinstance(exc, sqlite3.OperationalError):
                    raise
                logger.warning("%s %s: could not begin a transaction: %s", request.method,
                               redact_target(request.target), exc)
                return Response.generic(503, "The database is busy: another program is writing to it. "
                                             "Try again in a moment.", headers={"Retry-After": "1"})
        try:
            response = to_response(handler(request))
        except BaseException:
            for block in reversed(blocks):
                block.rollback()
            _roll_back_leftovers(watched, outer, request, reason="the handler raised an exception")
            raise
        if blocks:
            if response.code < 400:
                try:
                    for block in blocks:
                        block.commit()
                except sqlite3.Error as exc:
                    for block in blocks:
                        block.rollback()
                    logger.exception("%s %s: the commit failed", request.method, redact_target(request.target))
                    _discard(response)
                    return Response.generic(500, f"The changes made by {request.method} {request.target} "
                                                 f"could not be saved ({exc}); they were rolled back.")
            else:
                for block in reversed(blocks):
                    block.rollback()
        left_open = _roll_back_leftovers(watched, outer, request)
        if left_open:
            _discard(response)
            names = ", ".join(left_open)
            return Response.generic(
                500, f"The handler for {request.method} {request.target} left a database transaction open "
                     f"on {names}; it was rolled back, so its changes were NOT saved. "
                     "Commit (or use `with db:`) before returning.")
        if isinstance(response.content, Stream):
            response.content.iterator = _checked_stream(response.content.iterator, watched, request)
        return response

    guarded.__name__ = getattr(handler, "__name__", "guarded")
    guarded.__qualname__ = getattr(handler, "__qualname__", guarded.__name__)
    guarded.__doc__ = getattr(handler, "__doc__", None)
    guarded.__wrapped__ = handler  # type: ignore[attr-defined]
    return guarded


def _roll_back_leftovers(connections: tuple[sqlite3.Connection, ...], outer: list[int], request: Any,
                         reason: str | None = None) -> list[str]:
    """Roll back what a request left open; returns the names of the databases it affected."""
    left_open: list[str] = []
    for connection, depth in zip(connections, outer):
        key = id(connection)
        # A transaction() block the request never closed (a generator suspended inside one)
        # is abandoned along with its transaction.
        if _depths.get(key, 0) != depth:
            if depth:
                _depths[key] = depth
            else:
                _depths.pop(key, None)
        if depth:
            continue        # the enclosing block owns the open transaction and will end it
        if connection.in_transaction:
            name = _database_name(connection)
            _rollback_quietly(connection)
            left_open.append(name)
            if reason is None:
                logger.error("%s %s left a database transaction open on %s; it was rolled back and "
                             "its changes were not saved", request.method, redact_target(request.target), name)
            else:
                logger.warning("%s %s: rolled back the open transaction on %s because %s",
                               request.method, redact_target(request.target), name, reason)
    return left_open


def _checked_stream(iterator: Iterator[Any], connections: tuple[sqlite3.Connection, ...],
                    request: Any) -> Iterator[Any]:
    # A streamed body runs after the guard returned; when it ends (or is abandoned) it must
    # not leave a transaction holding the write lock between requests.
    try:
        yield from iterator
    finally:
        for connection in connections:
            if _depths.get(id(connection), 0) == 0 and connection.in_transaction:
                _rollback_quietly(connection)
                logger.error("the streamed response of %s %s left a database transaction open on %s; "
                             "it was rolled back", request.method, redact_target(request.target),
                             _database_name(connection))


def _discard(response: Response) -> None:
    """Release what a response that will not be sent holds open."""
    content = response.content
    try:
        if isinstance(content, Stream):
            content.close()
        elif isinstance(content, FileBody) and content.file is not None:
            content.file.close()
    except Exception:
        logger.exception("closing a discarded response failed")


def _database_name(connection: sqlite3.Connection) -> str:
    try:
        row = connection.execute("PRAGMA database_list").fetchone()
        return row[2] or ":memory:"
    except (sqlite3.Error, TypeError, IndexError):
        return "the database"

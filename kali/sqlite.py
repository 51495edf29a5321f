"""SQLite for a one-person app: a durable database helper and a guard against forgotten transactions.

kali runs every handler on one thread, so an app can open one connection at
start-up and use it everywhere. Two things make that safe:

* `open_database()` opens the file the way a personal tool should: WAL journal,
  `synchronous=FULL`, foreign keys on, a busy timeout, rows addressable by
  column name, the schema applied on first run, pending migrations run after a
  backup copy (kali.migrations), a daily backup kept in rotation
  (kali.backups), and `with db:` blocks that start with `BEGIN IMMEDIATE`
  (a savepoint when nested). Every database it opened is checkpointed and
  closed at exit (`close_all_databases`).
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

import atexit
import datetime
import os
import sqlite3
import sys
import weakref
from pathlib import Path

from .http import redact_target
from .log import get_logger
from .response import FileBody, Handler, Response, Stream, to_response

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing at run time (start-up)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Literal, Sequence, overload
    # kali.migrations is imported when a database with a schema or migrations is opened, not by
    # `import kali.sqlite`; these names are re-exported from it on first use (`__getattr__`).
    from .migrations import (Migration, MigrationError, MigrationSource, NewerDatabaseError, SchemaDriftError,
                             SchemaError, SQLText, split_statements)

__all__ = ["guard", "open_database", "data_folder", "transaction", "Database", "close_all_databases",
           "split_statements", "SchemaError", "MigrationError", "NewerDatabaseError", "SchemaDriftError",
           "DEFAULT_BACKUPS"]

logger = get_logger()

#: id(connection) -> how many `transaction()` blocks (and per-request guards) are open on it.
#: kali runs application code on one thread, so a plain dict is enough; entries exist only
#: while a block is open, so a recycled id() never meets a stale depth.
_depths: dict[int, int] = {}

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

#: Names kali.sqlite re-exports from kali.migrations, which is loaded when one is first asked for.
_FROM_MIGRATIONS = ("split_statements", "SchemaError", "MigrationError", "NewerDatabaseError", "SchemaDriftError")


def __getattr__(name: str) -> Any:
    if name not in _FROM_MIGRATIONS:
        raise AttributeError(f"module 'kali.sqlite' has no attribute {name!r}")
    from . import migrations
    return getattr(migrations, name)


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
    """The connection `open_database()` returns: `with db:` is a `transaction(db)` block; `db.backup()` makes a backup file."""

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

    if TYPE_CHECKING:     # the call forms, for type checkers (typing.overload is not imported at run time)
        @overload
        def backup(self, target: sqlite3.Connection, *, pages: int = -1,
                   progress: Callable[[int, int, int], object] | None = None, name: str = "main",
                   sleep: float = 0.25) -> None: ...

        @overload
        def backup(self, path: str | os.PathLike[str] | None = None, /) -> Path: ...

        @overload
        def backup(self, *, path: str | os.PathLike[str] | None) -> Path: ...

    def backup(self, target: Any = None, *, pages: int = -1,
               progress: Callable[[int, int, int], object] | None = None, name: str = "main",
               sleep: float = 0.25, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write a checked backup file and return its path (`backup(connection)` is sqlite3's own method).

        `db.backup()` writes `backups/<name>-<date>-<time>-v<version>.sqlite3` beside
        the database (the copies `backups=N` rotates); `db.backup(path)` writes that
        file (or, for a folder, a file named that way inside it). The copy holds
        every committed row, even when called inside a transaction.
        """
        if isinstance(target, sqlite3.Connection):
            # The standard library's method, unchanged: copy into another open connection.
            super().backup(target, pages=pages, progress=progress, name=name, sleep=sleep)
            return None
        if target is not None and path is not None:
            raise TypeError("db.backup() takes one path, given both positionally and as path=")
        if target is not None:
            path = target
        from . import backups
        source_file = _database_file(self)
        busy_timeout = float(self.__dict__.get("_kali_busy_timeout", 5.0))
        version = int(self.execute("PRAGMA user_version").fetchone()[0])
        if path is None:
            if source_file is None:
                raise ValueError("an in-memory database has no folder for backups: pass db.backup(path)")
            destination = backups.backup_path(Path(source_file), version)
        else:
            destination = Path(os.fspath(path))
            if destination.is_dir():
                reference = Path(source_file) if source_file is not None else Path("memory.sqlite3")
                destination = backups.backup_path(reference, version, folder=destination)
            if source_file is not None and destination.exists() and os.path.samefile(destination, source_file):
                raise ValueError(f"db.backup({os.fspath(path)!r}) would overwrite the database itself")
        return backups.copy_database(self, destination, source_file=source_file, busy_timeout=busy_timeout)


def _database_file(connection: sqlite3.Connection) -> str | None:
    """The main database's file, or None when it is in memory (or a temporary database)."""
    for row in connection.execute("PRAGMA database_list"):
        if row[1] == "main":
            return row[2] or None
    return None


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


#: How many daily backups `open_database()` keeps unless told otherwise.
DEFAULT_BACKUPS = 7


def open_database(path: str | os.PathLike[str] | None = None, *, app_name: str | None = None,
                  schema: str | os.PathLike[str] | None = None,
                  migrations: Sequence[MigrationSource] = (), check_schema: bool = True,
                  backups: int = DEFAULT_BACKUPS, busy_timeout: float = 5.0,
                  synchronous: str = "FULL", check_same_thread: bool = False) -> Database:
    """Open (or create) an app's SQLite database, durable by default, at the code's schema version.

    `path` defaults to `data_folder(app_name)/<app_name>.sqlite3`. `schema` (a
    `.sql` file, or SQL text) describes the latest version: it runs in one
    transaction when the database has no tables. `migrations[i]` (SQL text, a
    `.sql` file or a function taking the connection) upgrades version i to i + 1;
    pending ones run after a backup copy, each in its own transaction. Then the
    database is compared with what `schema` creates (`check_schema=False` skips
    that). `backups=N` makes a backup at most once a day and keeps the newest N
    (0: none). `busy_timeout` is how many seconds to wait for another process's
    write lock. `check_same_thread` is off because kali calls every handler on
    one thread, which need not be the thread that opened the database. Dates,
    times and datetimes are stored as ISO text.
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
    if isinstance(backups, bool) or not isinstance(backups, int) or backups < 0:
        raise ValueError(f"backups is how many daily backups to keep (0 for none), not {backups!r}")
    schema_sql: SQLText | None = None
    steps: list[Migration] = []
    if schema is not None or not isinstance(migrations, (list, tuple)) or migrations:
        # An app with neither a schema nor migrations never loads kali.migrations.
        from .migrations import load_migrations, load_sql
        schema_sql = load_sql(schema, "schema") if schema is not None else None
        steps = load_migrations(migrations)
    existed = not in_memory and os.path.isfile(name) and os.path.getsize(name) > 0

    try:
        db: Database = sqlite3.connect(name, timeout=busy_timeout, isolation_level="IMMEDIATE",
                                       check_same_thread=check_same_thread, factory=Database)
    except sqlite3.Error as exc:
        raise type(exc)(f"could not open the database {name}: {exc}") from exc
    try:
        db.row_factory = sqlite3.Row
        # Before anything that writes (even switching to WAL rewrites the header): a database
        # from a newer version of the app is refused byte for byte unchanged.
        if steps:
            _refuse_newer(db, name, len(steps))
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal" and not in_memory:
            # Network file systems cannot share WAL's memory map; SQLite says so by keeping its mode.
            logger.warning("the database %s could not use WAL (journal mode %s): another process "
                           "reading it may block kali's writes", name, mode)
        db.execute(f"PRAGMA synchronous={level}")
        db.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        db.close()
        from .migrations import SchemaError
        if isinstance(exc, SchemaError):
            raise
        # "file is not a database" alone does not say which file.
        raise type(exc)(f"could not open the database {name}: {exc}") from exc
    db.__dict__.update(_kali_busy_timeout=float(busy_timeout), _kali_pid=os.getpid())
    try:
        file = None if in_memory else Path(_database_file(db) or os.path.abspath(name))
        _bring_up_to_date(db, name, file, existed, schema_sql, steps, check_schema, backups, busy_timeout)
    except BaseException:
        db.close()
        raise
    _open_databases.add(db)
    return db


def _refuse_newer(db: sqlite3.Connection, name: str, code_version: int) -> None:
    from .migrations import NewerDatabaseError, database_version
    version = database_version(db)
    if version > code_version:
        raise NewerDatabaseError(
            f"the database {name} is at version {version}, but this app knows only up to version "
            f"{code_version} (it has {code_version} migrations): it was written by a newer version of "
            f"the app. Nothing was changed; run the newer app, or open a backup made for this version.",
            database_version=version, code_version=code_version)


def _bring_up_to_date(db: Database, name: str, file: Path | None, existed: bool, schema: SQLText | None,
                      steps: list[Migration], check: bool, keep: int, busy_timeout: float) -> None:
    """Create, back up, migrate and check the database (see open_database)."""
    target = len(steps)
    if schema is None and not steps:
        # Nothing to create or migrate: no write lock needed (the file may even be read-only),
        # and a file made just now is not even read.
        if file is not None and keep > 0 and existed and not _is_empty(db):
            _daily_backup(db, name, file, keep, busy_timeout)
        return
    from .migrations import check_schema, database_version, run_migration, run_schema
    # Under the write lock: two copies of the app starting at once must not both create
    # the tables, and the version read here is the one the migrations start from.
    db.execute("BEGIN IMMEDIATE")
    try:
        empty = _is_empty(db)
        version = database_version(db)
        created = False
        if empty and schema is not None:
            run_schema(db, schema)
            if target:
                db.execute(f"PRAGMA user_version = {target:d}")
            created = True
            version = target
        elif steps:
            _refuse_newer(db, name, target)
        _commit(db)
    except BaseException:
        _rollback_quietly(db)
        raise

    if version < target:
        if file is not None and not empty:
            from .backups import backup_path, copy_database
            made = copy_database(db, backup_path(file, version, before_migration=True),
                                 source_file=str(file), busy_timeout=busy_timeout)
            logger.info("backed up %s (version %d) to %s before migrating it to version %d",
                        name, version, made, target)
        # Off during migrations, as SQLite's own procedure for changing a table says:
        # rebuilding a table must not cascade into others; foreign_key_check runs instead.
        db.execute("PRAGMA foreign_keys=OFF")
        try:
            for step in steps[version:]:
                block = _Transaction(db)
                if run_migration(db, step, block.begin, block.commit, block.rollback):
                    logger.info("migrated %s to version %d", name, step.index + 1)
        finally:
            db.execute("PRAGMA foreign_keys=ON")
        version = database_version(db)

    if schema is not None and check and not created:
        check_schema(db, schema, database_name=name, version=version)

    if file is not None and keep > 0 and not empty:
        # (A database that was empty when opened has nothing worth a copy yet.)
        _daily_backup(db, name, file, keep, busy_timeout)


def _is_empty(db: sqlite3.Connection) -> bool:
    return bool(db.execute("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0] == 0)


def _daily_backup(db: Database, name: str, file: Path, keep: int, busy_timeout: float) -> None:
    """Make today's backup unless there is one, and rotate; a failure is logged, never fatal."""
    from .backups import backup_path, copy_database, has_backup_from, rotate_backups
    from .migrations import database_version
    today = datetime.date.today()
    try:
        if has_backup_from(file, today):
            rotate_backups(file, keep)
            return
        # Another connection holds the write lock while deciding and copying: workers of a
        # WSGI server starting together make one backup between them, not one each.
        lock = sqlite3.connect(str(file), timeout=busy_timeout, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")
            if not has_backup_from(file, today):
                made = copy_database(db, backup_path(file, database_version(db)), source_file=str(file),
                                     busy_timeout=busy_timeout)
                logger.info("backed up %s to %s", name, made)
            lock.execute("ROLLBACK")
        finally:
            lock.close()
        rotate_backups(file, keep)
    except (OSError, sqlite3.Error) as exc:
        logger.warning("could not make today's backup of %s: %s", name, exc)


# -- closing at exit ---------------------------------------------------------------------

#: Every database open_database() opened (and that is still referenced), to close at exit.
_open_databases: "weakref.WeakSet[Database]" = weakref.WeakSet()


def close_all_databases() -> None:
    """Checkpoint and close every database `open_database()` opened in this process.

    Runs at normal interpreter exit (atexit); a launcher calls it on every way out.
    `PRAGMA wal_checkpoint(TRUNCATE)` copies committed transactions from the
    `-wal` file into the database file and empties the `-wal`, so the `.sqlite3`
    file alone holds every committed row even while another process keeps the
    database open. A transaction left open is rolled back. Safe to call twice.
    """
    for db in list(_open_databases):
        _open_databases.discard(db)
        if db.__dict__.get("_kali_pid") != os.getpid():
            continue        # inherited through fork(): the parent process owns it
        try:
            if db.in_transaction:
                logger.warning("a transaction on %s was still open at exit; it was rolled back",
                               _database_name(db))
                _rollback_quietly(db)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.ProgrammingError:
            continue        # already closed (or bound to another thread)
        except sqlite3.Error as exc:
            logger.warning("could not checkpoint %s at exit: %s", _database_name(db), exc)
        try:
            db.close()
        except sqlite3.Error as exc:
            logger.warning("could not close %s at exit: %s", _database_name(db), exc)


atexit.register(close_all_databases)


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

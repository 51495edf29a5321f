"""kali.sqlite: the transaction guard, transaction blocks, open_database() and the guard example."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from kali.http import HTTPError
from kali.response import Response, set_error_page
from kali.security import secure
from kali.sqlite import Database, data_folder, guard, open_database, split_statements, transaction
from kali.testing import Client
from support import parse_response, raw_request, running_example, running_server

SCHEMA = """
CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE part (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES item(id), name TEXT);
"""


@pytest.fixture
def schema(tmp_path: Path) -> Path:
    path = tmp_path / "schema.sql"
    path.write_text(SCHEMA, encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path, schema: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "app.sqlite3", schema=schema)
    yield database
    database.close()


def names(connection: sqlite3.Connection) -> list[str]:
    """The item names that are committed, seen by another connection."""
    path = connection.execute("PRAGMA database_list").fetchone()[2]
    other = sqlite3.connect(path, timeout=0)
    try:
        return [row[0] for row in other.execute("SELECT name FROM item ORDER BY id")]
    finally:
        other.close()


def app_for(db: sqlite3.Connection, routes: dict[str, Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """A tiny handler: POST /NAME runs routes[NAME](request)."""
    def app(request: Any) -> Any:
        route = routes.get(request.path.strip("/"))
        if route is None:
            return Response.generic(404)
        return route(request)
    return app


def insert(db: sqlite3.Connection, name: str) -> None:
    db.execute("INSERT INTO item (name) VALUES (?)", (name,))


# -- the guard ----------------------------------------------------------------------------

def test_forgotten_commit_is_rolled_back_with_a_500_page(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    def forgets(request: Any) -> Any:
        insert(db, request.POST["name"])
        return Response.redirect("/")

    def commits(request: Any) -> Any:
        with db:
            insert(db, request.POST["name"])
        return Response.redirect("/")

    client = Client(guard(app_for(db, {"forgets": forgets, "commits": commits}), db))
    with caplog.at_level(logging.ERROR, logger="kali"):
        response = client.post("/forgets?x=1", data={"name": "lost"})
    assert response.status == 500
    assert "The handler for POST /forgets?x=1 left a database transaction open" in response.text
    assert "rolled back" in response.text and "NOT saved" in response.text
    assert "POST /forgets?x=1 left a database transaction open" in caplog.text
    assert not db.in_transaction
    assert names(db) == []
    # The connection is usable afterwards, and nothing else is blamed.
    response = client.post("/commits", data={"name": "kept"})
    assert response.status == 303
    assert names(db) == ["kept"]
    assert not db.in_transaction


def test_the_guard_works_for_plain_sqlite3_connections_in_every_style(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite3"
    setup = sqlite3.connect(path)
    setup.executescript(SCHEMA)
    setup.close()
    deferred = sqlite3.connect(path)                       # the standard library's default
    autocommit = sqlite3.connect(path, isolation_level=None)

    def explicit_commit(request: Any) -> Any:
        insert(deferred, "explicit")
        deferred.commit()
        return "ok"

    def with_block(request: Any) -> Any:
        with deferred:
            insert(deferred, "with")
        return "ok"

    def autocommitted(request: Any) -> Any:
        insert(autocommit, "autocommit")
        return "ok"

    def forgets_deferred(request: Any) -> Any:
        insert(deferred, "lost-1")
        return "ok"

    def forgets_explicit_begin(request: Any) -> Any:
        autocommit.execute("BEGIN")
        insert(autocommit, "lost-2")
        return "ok"

    routes = {"explicit": explicit_commit, "with": with_block, "auto": autocommitted,
              "forgets1": forgets_deferred, "forgets2": forgets_explicit_begin}
    client = Client(guard(app_for(deferred, routes), deferred, autocommit))
    for name in ("explicit", "with", "auto"):
        assert client.post(f"/{name}").status == 200
    first = client.post("/forgets1")
    second = client.post("/forgets2")
    assert (first.status, second.status) == (500, 500)
    assert "POST /forgets2 left a database transaction open" in second.text
    assert not deferred.in_transaction and not autocommit.in_transaction
    assert names(deferred) == ["explicit", "with", "autocommit"]
    deferred.close()
    autocommit.close()


def test_exception_mid_transaction_is_rolled_back_before_the_error_page(db: Database) -> None:
    seen: list[bool] = []

    def page(code: int, message: str, detail: str | None) -> str:
        # The error page is produced after the rollback: nothing is open any more.
        seen.append(db.in_transaction)
        return f"error {code}: {message}"

    def crashes(request: Any) -> Any:
        insert(db, "half")
        db.execute("INSERT INTO part (item_id, name) VALUES (999, 'orphan')")   # foreign key fails
        return "unreachable"

    def refuses(request: Any) -> Any:
        insert(db, "refused")
        raise HTTPError(409, "conflict, try again")

    # debug=False: on this machine a 500 is the debug page, which is kali's own, not the branded one.
    client = Client(guard(app_for(db, {"crashes": crashes, "refuses": refuses}), db), debug=False)
    set_error_page(page)
    try:
        crashed = client.post("/crashes")
        refused = client.post("/refuses")
    finally:
        set_error_page(None)
    assert crashed.status == 500 and "error 500: The server could not complete this request" in crashed.text
    assert refused.status == 409 and "conflict, try again" in refused.text
    assert seen == [False, False]
    assert names(db) == []
    assert not db.in_transaction
    insert(db, "usable")
    db.commit()
    assert names(db) == ["usable"]


def test_a_with_block_that_raises_inside_the_handler_leaves_nothing_behind(db: Database) -> None:
    def handler(request: Any) -> Any:
        try:
            with db:
                insert(db, "a")
                insert(db, "a")     # UNIQUE fails: the block rolls back
        except sqlite3.IntegrityError:
            return Response.plain_text("duplicate", 409)
        return "ok"

    response = Client(guard(handler, db)).post("/")
    assert response.status == 409
    assert names(db) == []
    assert not db.in_transaction


def test_per_request_mode_commits_success_and_rolls_back_errors(db: Database) -> None:
    def ok(request: Any) -> Any:
        insert(db, request.POST["name"])       # no commit: the guard commits
        return Response.redirect("/")

    def bad(request: Any) -> Any:
        insert(db, request.POST["name"])
        return Response.generic(400, "no")

    def raises(request: Any) -> Any:
        insert(db, request.POST["name"])
        raise ValueError("boom")

    def returns_content(request: Any) -> Any:
        insert(db, request.POST["name"])
        return ["<p>saved</p>"]                # not a Response: normalised, then committed

    client = Client(guard(app_for(db, {"ok": ok, "bad": bad, "raises": raises, "content": returns_content}),
                          db, per_request=True))
    assert client.post("/ok", data={"name": "one"}).status == 303
    assert client.post("/bad", data={"name": "two"}).status == 400
    assert client.post("/raises", data={"name": "three"}).status == 500
    assert client.post("/content", data={"name": "four"}).status == 200
    assert client.post("/missing", data={"name": "five"}).status == 404
    assert names(db) == ["one", "four"]
    assert not db.in_transaction


def test_per_request_mode_takes_the_write_lock_before_the_handler(db: Database) -> None:
    def handler(request: Any) -> Any:
        # Another connection cannot write now, even though this handler has only read.
        db.execute("SELECT count(*) FROM item").fetchone()
        path = db.execute("PRAGMA database_list").fetchone()[2]
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()
        return "ok"

    assert Client(guard(handler, db, per_request=True)).get("/").status == 200


def test_nested_with_blocks_are_savepoints(db: Database) -> None:
    with db:
        insert(db, "outer")
        with pytest.raises(sqlite3.IntegrityError):
            with db:
                insert(db, "inner")
                insert(db, "outer")         # fails: only this inner block is undone
        with db:
            insert(db, "inner-ok")
        assert db.in_transaction             # the inner block did not commit the outer one
        assert names(db) == []
    assert names(db) == ["outer", "inner-ok"]
    assert not db.in_transaction


def test_nested_with_blocks_inside_per_request_mode(db: Database) -> None:
    def handler(request: Any) -> Any:
        with db:
            insert(db, "kept")
        try:
            with db:
                insert(db, "undone")
                raise KeyError("inner failure handled by the handler")
        except KeyError:
            pass
        assert db.in_transaction             # the per-request transaction is still open
        return "ok"

    assert Client(guard(handler, db, per_request=True)).post("/").status == 200
    assert names(db) == ["kept"]


def test_nested_with_blocks_on_a_plain_connection_under_the_guard(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "plain.sqlite3")
    conn.executescript(SCHEMA)

    def handler(request: Any) -> Any:
        # The standard library's `with conn:` commits at the end of each block, nested or not.
        with conn:
            insert(conn, "a")
            with conn:
                insert(conn, "b")
            insert(conn, "c")
        return "ok"

    assert Client(guard(handler, conn)).post("/").status == 200
    assert names(conn) == ["a", "b", "c"]
    conn.close()


def test_transaction_blocks_on_plain_connections(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "plain.sqlite3", isolation_level=None)
    conn.executescript(SCHEMA)
    with transaction(conn):
        assert conn.in_transaction           # BEGIN IMMEDIATE, even before any write
        insert(conn, "a")
        with pytest.raises(RuntimeError):
            with transaction(conn):
                insert(conn, "b")
                raise RuntimeError
        insert(conn, "c")
    assert names(conn) == ["a", "c"]
    with pytest.raises(TypeError, match="sqlite3 connection"):
        transaction("not a connection")  # type: ignore[arg-type]
    conn.close()


def test_a_with_block_holds_the_write_lock_from_its_start(db: Database) -> None:
    # BEGIN IMMEDIATE: a read-then-write block cannot be overtaken by another writer
    # (with a deferred BEGIN its write would fail with "database is locked").
    path = db.execute("PRAGMA database_list").fetchone()[2]
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with db:
        db.execute("SELECT count(*) FROM item").fetchone()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        insert(db, "mine")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO item (name) VALUES ('theirs')")
    other.execute("COMMIT")
    other.close()
    assert names(db) == ["mine", "theirs"]


def test_per_request_mode_answers_503_when_another_process_holds_the_lock(tmp_path: Path, schema: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    db = open_database(path, schema=schema, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    calls: list[str] = []
    client = Client(guard(lambda request: calls.append("called") or "ok", db, per_request=True))
    response = client.post("/")
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert calls == []
    other.execute("ROLLBACK")
    assert client.post("/").status == 200 and calls == ["called"]
    other.close()
    db.close()


def test_per_request_mode_reports_a_failed_commit(tmp_path: Path) -> None:
    path = tmp_path / "deferred.sqlite3"
    (tmp_path / "s.sql").write_text(
        "CREATE TABLE a (id INTEGER PRIMARY KEY);"
        "CREATE TABLE b (a_id INTEGER REFERENCES a(id) DEFERRABLE INITIALLY DEFERRED);")
    db = open_database(path, schema=tmp_path / "s.sql")

    def handler(request: Any) -> Any:
        db.execute("INSERT INTO b VALUES (42)")    # checked only at COMMIT
        return "looks fine"

    response = Client(guard(handler, db, per_request=True)).post("/")
    assert response.status == 500
    assert "could not be saved" in response.text and "FOREIGN KEY" in response.text
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM b").fetchone()[0] == 0
    db.close()


def test_forgetting_on_one_of_two_databases_names_that_database(tmp_path: Path, schema: Path) -> None:
    main = open_database(tmp_path / "main.sqlite3", schema=schema)
    cache = open_database(tmp_path / "cache.sqlite3", schema=schema)

    def handler(request: Any) -> Any:
        with main:
            insert(main, "saved")
        insert(cache, "forgotten")
        return "ok"

    response = Client(guard(handler, main, cache)).post("/")
    assert response.status == 500
    assert "cache.sqlite3" in response.text and "main.sqlite3" not in response.text
    assert names(main) == ["saved"] and names(cache) == []
    main.close()
    cache.close()


def test_a_stream_that_leaves_a_transaction_open_is_rolled_back_when_it_ends(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    def rows() -> Iterator[str]:
        yield "first\n"
        insert(db, "from-stream")            # runs after the guard returned
        yield "second\n"

    def handler(request: Any) -> Any:
        if request.path == "/stream":
            return Response.stream(rows())
        with db:
            insert(db, "next-request")
        return "ok"

    client = Client(guard(handler, db))
    with caplog.at_level(logging.ERROR, logger="kali"):
        response = client.get("/stream")
    assert response.status == 200 and response.text == "first\nsecond\n"
    assert "streamed response of GET /stream left a database transaction open" in caplog.text
    assert not db.in_transaction
    assert client.post("/").status == 200
    assert names(db) == ["next-request"]


def test_a_transaction_left_open_outside_any_request_is_not_blamed_on_the_next(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: Any) -> Any:
        with db:
            insert(db, "request")
        return "ok"

    insert(db, "stray")                      # e.g. a timer callback that forgot to commit
    with caplog.at_level(logging.ERROR, logger="kali"):
        response = Client(guard(handler, db)).post("/")
    assert response.status == 200
    assert "was open before POST / started" in caplog.text
    assert names(db) == ["request"]


def test_an_inner_guard_inside_a_per_request_guard_leaves_the_outer_transaction_alone(db: Database) -> None:
    def inner(request: Any) -> Any:
        insert(db, request.POST["name"])
        return "ok" if request.POST["name"] != "bad" else Response.generic(400)

    outer = guard(guard(inner, db), db, per_request=True)
    client = Client(outer)
    assert client.post("/", data={"name": "good"}).status == 200
    assert client.post("/", data={"name": "bad"}).status == 400
    assert names(db) == ["good"]
    # And the other way round: an inner per-request guard is a savepoint of nothing open,
    # so it commits by itself and the outer plain guard finds nothing left.
    client = Client(guard(guard(inner, db, per_request=True), db))
    assert client.post("/", data={"name": "third"}).status == 200
    assert names(db) == ["good", "third"]


def test_guard_arguments_are_checked(db: Database) -> None:
    with pytest.raises(TypeError, match="at least one"):
        guard(lambda request: "ok")
    with pytest.raises(TypeError, match="sqlite3 connections, not str"):
        guard(lambda request: "ok", "app.db")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="the handler comes first"):
        guard(db, db)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wraps a handler"):
        guard("app", db)  # type: ignore[arg-type]

    class PEP249Connection(sqlite3.Connection):
        autocommit = False                   # Python 3.12's autocommit=False: always in a transaction

    with pytest.raises(ValueError, match="autocommit=False"):
        guard(lambda request: "ok", sqlite3.connect(":memory:", factory=PEP249Connection))

    def handler(request: Any) -> Any:
        """Says hello."""
        return "hello"

    wrapped = guard(handler, db)
    assert wrapped.__name__ == "handler" and wrapped.__doc__ == "Says hello."


def test_a_failed_begin_on_one_database_does_not_keep_the_others_locked(tmp_path: Path) -> None:
    # per_request=True begins on every connection in turn; when a later BEGIN fails with an
    # error that is not "busy" (here a file that stopped being a database), the transactions
    # already begun must be rolled back, or the write lock is held until the app exits.
    main_path, broken_path = tmp_path / "main.sqlite3", tmp_path / "broken.sqlite3"
    main, broken = open_database(main_path), open_database(broken_path)
    main.execute("CREATE TABLE t (x)")
    main.commit()
    with open(broken_path, "r+b") as f:
        f.write(b"this file is no longer a database " * 4)
    client = Client(guard(lambda request: "ok", main, broken, per_request=True))
    for _ in range(2):
        assert client.post("/").status == 500
        assert not main.in_transaction
    other = sqlite3.connect(main_path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")     # would fail at once with "database is locked"
        other.execute("INSERT INTO t VALUES (1)")
        other.execute("COMMIT")
    finally:
        other.close()
    with main:                               # the app's own connection still works too
        main.execute("INSERT INTO t VALUES (2)")
    assert [row[0] for row in main.execute("SELECT x FROM t ORDER BY x")] == [1, 2]
    main.close()
    broken.close()


WRITE_FROM_ANOTHER_PROCESS = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO item (name) VALUES (?)", (sys.argv[2],))
db.execute("COMMIT")
print(db.execute("SELECT count(*) FROM item").fetchone()[0])
"""


def test_another_process_writes_between_per_request_transactions(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    db = open_database(path)
    db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    db.commit()

    def handler(request: Any) -> Any:
        db.execute("INSERT INTO item (name) VALUES (?)", (request.POST["name"],))   # the guard commits
        return Response.redirect("/")

    client = Client(guard(handler, db, per_request=True))
    for i in range(3):
        assert client.post("/", data={"name": f"kali-{i}"}).status == 303
        # timeout=0 in the other process: any lock kept after the request fails at once.
        done = subprocess.run([sys.executable, "-c", WRITE_FROM_ANOTHER_PROCESS, str(path), f"other-{i}"],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(2 * (i + 1))
    names = [row["name"] for row in db.execute("SELECT name FROM item ORDER BY id")]
    assert names == ["kali-0", "other-0", "kali-1", "other-1", "kali-2", "other-2"]
    db.close()


def test_the_guard_page_escapes_the_request_it_names(tmp_path: Path) -> None:
    db = open_database(tmp_path / "app.sqlite3")
    db.execute("CREATE TABLE t (x)")
    db.commit()

    def forgets(request: Any) -> Any:
        db.execute("INSERT INTO t VALUES (1)")
        return "ok"

    with running_server(secure(guard(forgets, db))) as server:
        raw = (f"POST /x?<script>alert(1)</script> HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
               f"Content-Length: 0\r\n\r\n").encode()
        status, headers, body = parse_response(raw_request(server.port, raw, timeout=10))
    assert status == 500 and b"left a database transaction open" in body
    assert b"<script>" not in body and b"&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert headers["x-content-type-options"] == "nosniff"
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    db.close()


def test_a_crash_behind_both_wrappers_is_rolled_back_and_hidden_from_other_machines(tmp_path: Path) -> None:
    db = open_database(tmp_path / "app.sqlite3")
    db.execute("CREATE TABLE t (x)")
    db.commit()

    def crashes(request: Any) -> Any:
        db.execute("INSERT INTO t VALUES ('half')")
        raise RuntimeError("secret <detail>")

    handler = secure(guard(crashes, db))
    remote = Client(handler, client_address=("192.168.1.20", 50000)).post("/")
    assert remote.status == 500 and "Traceback" not in remote.text and "secret" not in remote.text
    local = Client(handler).post("/")
    assert local.status == 500 and "Traceback" in local.text and "secret &lt;detail&gt;" in local.text
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    db.close()


# -- open_database ---------------------------------------------------------------------------

def test_open_database_settings(db: Database) -> None:
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2          # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert db.isolation_level == "IMMEDIATE"
    with db:
        insert(db, "x")
    row = db.execute("SELECT id, name FROM item").fetchone()
    assert row["name"] == "x" and row[1] == "x" and row.keys() == ["id", "name"]
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        with db:
            db.execute("INSERT INTO part (item_id, name) VALUES (12345, 'orphan')")


def test_open_database_options(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.sqlite3", synchronous="normal", busy_timeout=0.25)
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 250
    db.close()
    memory = open_database(":memory:")
    assert memory.execute("SELECT 1").fetchone()[0] == 1
    memory.close()
    with pytest.raises(ValueError, match="synchronous must be one of"):
        open_database(tmp_path / "x.sqlite3", synchronous="FULL; DROP TABLE x")
    with pytest.raises(ValueError, match="busy_timeout"):
        open_database(tmp_path / "x.sqlite3", busy_timeout=-1)
    with pytest.raises(ValueError, match="needs a path or an app_name"):
        open_database()


def test_schema_is_applied_once_in_one_transaction(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("""-- seed data too
        BEGIN TRANSACTION;
        CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
        CREATE TABLE log (v TEXT);
        CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.v || ';'); END;
        INSERT INTO t (v) VALUES ('semi;colon'); /* a comment; with a semicolon */
        COMMIT;
        -- the end
    """)
    path = tmp_path / "s.sqlite3"
    db = open_database(path, schema=schema)
    assert [row["v"] for row in db.execute("SELECT v FROM t")] == ["semi;colon"]
    assert [row["v"] for row in db.execute("SELECT v FROM log")] == ["semi;colon;"]
    db.close()
    db = open_database(path, schema=schema)          # not the first run: nothing re-applied
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    db.close()


def test_a_broken_schema_names_the_file_and_line_and_applies_nothing(tmp_path: Path) -> None:
    schema = tmp_path / "broken.sql"
    schema.write_text("CREATE TABLE a (x);\n\n-- oops\nCREATE TABEL b (y);\n")
    path = tmp_path / "b.sqlite3"
    with pytest.raises(sqlite3.OperationalError, match=r"schema file .*broken\.sql, line 4: near \"TABEL\""):
        open_database(path, schema=schema)
    check = sqlite3.connect(path)
    assert check.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    check.close()
    schema.write_text("CREATE TABLE a (x);\nCREATE TABLE b (y);\n")    # fixed: the next run applies it
    db = open_database(path, schema=schema)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master ORDER BY name")] == ["a", "b"]
    db.close()


def test_open_database_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="schema file .*missing.sql does not exist"):
        open_database(tmp_path / "a.sqlite3", schema=tmp_path / "missing.sql")
    with pytest.raises(FileNotFoundError, match="folder for the database"):
        open_database(tmp_path / "no" / "such" / "a.sqlite3")
    garbage = tmp_path / "notes.txt"
    garbage.write_bytes(b"this is not a database, just some text " * 50)
    with pytest.raises(sqlite3.DatabaseError, match="could not open the database .*notes.txt"):
        open_database(garbage)


def test_default_path_is_in_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KALI_DATA_DIR", str(tmp_path / "data"))
    db = open_database(app_name="diary")
    assert db.execute("PRAGMA database_list").fetchone()[2] == str(tmp_path / "data" / "diary" / "diary.sqlite3")
    db.close()


def test_data_folder_per_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    monkeypatch.delenv("KALI_DATA_DIR", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_folder("app") == tmp_path / "xdg" / "app"
    assert (tmp_path / "xdg" / "app").is_dir()
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert data_folder("app", create=False) == home / ".local" / "share" / "app"
    assert not (home / ".local").exists()
    monkeypatch.setattr(sys, "platform", "darwin")
    assert data_folder("app", create=False) == home / "Library" / "Application Support" / "app"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "roaming"))
    assert data_folder("app", create=False) == tmp_path / "roaming" / "app"
    monkeypatch.setenv("KALI_DATA_DIR", str(tmp_path / "override"))
    assert data_folder("app", create=False) == tmp_path / "override" / "app"
    for bad in ("", "..", "a/b", "a\\b"):
        with pytest.raises(ValueError, match="plain folder name"):
            data_folder(bad)


def test_split_statements() -> None:
    script = ("CREATE TABLE a (x TEXT DEFAULT ';');  CREATE TABLE b (y);\n"
              "-- a comment; not a statement\n"
              "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); END;\n"
              "INSERT INTO a VALUES ('no semicolon at the end')")
    assert list(split_statements(script)) == [
        (1, "CREATE TABLE a (x TEXT DEFAULT ';');"),
        (1, "  CREATE TABLE b (y);"),
        (3, "\n-- a comment; not a statement\nCREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); END;"),
        (4, "\nINSERT INTO a VALUES ('no semicolon at the end')"),
    ]
    assert list(split_statements("-- only a comment;\n  ")) == []


# -- the example ----------------------------------------------------------------------------------

def post(url: str, fields: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=fields.encode(), method="POST")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_guard_example(tmp_path: Path) -> None:
    path = tmp_path / "guard.sqlite3"
    with running_example("guard", env={"KALI_GUARD_DB": str(path)}) as url:
        assert post(url + "tasks", "title=Water+the+plants")[0] == 303
        status, page = post(url + "tasks/forgetful", "title=Lost+task")
        assert status == 500
        assert "The handler for POST /tasks/forgetful left a database transaction open" in page
        assert post(url + "journal", "text=A+good+day")[0] == 303
        assert post(url + "journal", "text=")[0] == 400
        with urllib.request.urlopen(url, timeout=10) as response:
            home = response.read().decode()
        assert "Water the plants" in home and "Lost task" not in home
        assert "A good day" in home and str(path) in home
        # Another program writes while the app runs; the app shows it on the next request.
        other = sqlite3.connect(path, timeout=0)
        other.execute("INSERT INTO task (title) VALUES ('from a terminal')")
        other.commit()
        other.close()
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "from a terminal" in response.read().decode()
    check = sqlite3.connect(path)
    assert [r[0] for r in check.execute("SELECT title FROM task ORDER BY id")][1:] == [
        "Water the plants", "from a terminal"]
    assert [r[0] for r in check.execute("SELECT text FROM note")] == ["A good day"]
    check.close()


def test_dates_and_times_are_stored_as_iso_text() -> None:
    import datetime
    import warnings
    from kali.sqlite import open_database
    db = open_database(":memory:")
    db.execute("CREATE TABLE t (d, t, dt)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # no deprecated default adapters involved
        with db:
            db.execute("INSERT INTO t VALUES (?, ?, ?)", (datetime.date(2024, 1, 2), datetime.time(9, 30),
                                                          datetime.datetime(2024, 1, 2, 9, 30, 5)))
    assert tuple(db.execute("SELECT * FROM t").fetchone()) == ("2024-01-02", "09:30:00", "2024-01-02 09:30:05")
    assert db.execute("SELECT date(d, '+1 day') FROM t").fetchone()[0] == "2024-01-03"

"""Audit of issues 6 (SQLite guard) and 7 (localhost security): the gaps the other tests left open."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kali.response import Response
from kali.security import secure
from kali.sqlite import guard, open_database
from kali.testing import Client
from support import parse_response, raw_request, running_server

calls: list[str] = []


def app(request: Any) -> Any:
    calls.append(f"{request.method} {request.path}")
    return f"{request.method} {request.path} ok"


@pytest.fixture(autouse=True)
def clear_calls() -> None:
    calls.clear()


# -- issue 6: the guard ---------------------------------------------------------------------

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


# -- issue 7: Host look-alikes on a live server ------------------------------------------------

LOOK_ALIKES = [
    "localhost.evil.com:{port}",
    "127.0.0.1.nip.io:{port}",
    "localhost.:{port}",                # trailing dot
    "127.1:{port}",                     # short and numeric spellings of 127.0.0.1
    "2130706433:{port}",
    "0x7f.1:{port}",
    "[::ffff:127.0.0.1]:{port}",
    "[0:0:0:0:0:0:0:1]:{port}",
    "127.0.0.1:0{port}",                # the right port, spelled differently
    "",                                 # empty
]

# Not host[:port] at all: the parser answers 400 (RFC 9112 3.2) before the allow-list is asked.
MALFORMED = [
    "user@127.0.0.1:{port}",            # userinfo: a browser never sends it, a URL parser might strip it
    "127.0.0.1:{port}@evil.example",
    "127.0.0.1:{port}:{port}",
    "127.0.0.1:{port}/x",
]


@pytest.mark.parametrize("host", LOOK_ALIKES + MALFORMED)
def test_look_alike_hosts_are_refused_on_a_live_server(host: str) -> None:
    with running_server(secure(app)) as server:
        value = host.format(port=server.port)
        raw = f"GET / HTTP/1.1\r\nHost: {value}\r\n\r\n".encode("latin-1")
        status, headers, _ = parse_response(raw_request(server.port, raw, timeout=10))
    assert status == (400 if host in MALFORMED else 421), value
    assert headers["x-frame-options"] == "DENY"
    assert calls == []


@pytest.mark.parametrize("host", ["LOCALHOST:{port}", "LocalHost:{port}", "  127.0.0.1:{port}  ", "[::1]:{port}"])
def test_this_servers_names_in_any_case_or_padding_are_accepted(host: str) -> None:
    with running_server(secure(app)) as server:
        raw = f"GET / HTTP/1.1\r\nHost: {host.format(port=server.port)}\r\n\r\n".encode("latin-1")
        status, _, body = parse_response(raw_request(server.port, raw, timeout=10))
    assert (status, body) == (200, b"GET / ok")


def test_a_second_host_header_cannot_sneak_past_the_check() -> None:
    with running_server(secure(app)) as server:
        port = server.port
        for first, second in ((f"127.0.0.1:{port}", f"evil.example:{port}"),
                              (f"evil.example:{port}", f"127.0.0.1:{port}")):
            raw = f"GET / HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\n\r\n".encode()
            assert parse_response(raw_request(port, raw, timeout=10))[0] == 400
    assert calls == []


# -- issue 7: cross-site look-alikes ---------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:8080@evil.example"},
    {"Origin": "http://evil.example#@127.0.0.1:8080"},
    {"Referer": "http://127.0.0.1:8080@evil.example/form"},
    {"Origin": "http://127.0.0.1:8080, https://evil.example"},
    {"Sec-Fetch-Site": "something-new"},            # a value we do not know is not a pass
])
def test_origin_look_alikes_are_refused(headers: dict[str, str]) -> None:
    response = Client(secure(app)).post("/notes", data={"a": "1"}, headers=headers)
    assert response.status == 403, headers
    assert calls == []

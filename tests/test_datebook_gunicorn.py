"""The datebook under gunicorn: 4 worker processes, 8 clients writing at once, no lost write, no "database is locked".

The day a tool outgrows one process, the same app runs under a real WSGI server
with several workers, each with its own connection to the one SQLite file (the
settings are in docs/deploying.md). Every client adds contacts and edits its
own last one through the forms, as a browser would: load the form (any worker),
post it (any other worker, so the workers share KALI_SIGNING_KEY for the forms'
tokens). Afterwards every acknowledged insert and the last acknowledged edit
of every contact are in the file, which passes integrity_check; after gunicorn
stops, the .sqlite3 file alone holds them all (each worker checkpointed and
closed its database at exit).
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from support import ROOT, stop_process

pytestmark = pytest.mark.skipif(os.name != "posix", reason="gunicorn runs on POSIX only")

WORKERS = 4
CLIENTS = 8
SECONDS = 4.0
TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')


def start_gunicorn(database: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], int, Path]:
    log = tmp_path / "gunicorn.log"
    env = dict(os.environ, KALI_DATEBOOK_DB=str(database), KALI_SIGNING_KEY=secrets.token_hex(32),
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind", "127.0.0.1:0",
         "--chdir", str(ROOT / "tests" / "apps"), "--no-control-socket", "--graceful-timeout", "10",
         "--error-logfile", str(log), "datebook_wsgi:application"],
        cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    port = None
    while time.monotonic() < deadline and port is None:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text() if log.exists() else ''}")
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text() if log.exists() else "")
        port = int(found.group(1)) if found else None
        time.sleep(0.05)
    if port is None:
        stop_process(proc)
        raise RuntimeError("gunicorn did not say where it listens within 30 s")
    # Every worker has booted (and opened the database) before the load starts.
    while time.monotonic() < deadline and log.read_text().count("Booting worker") < WORKERS:
        time.sleep(0.05)
    return proc, port, log


def request(port: int, method: str, path: str, fields: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(status, Location, body) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = urlencode(fields).encode("ascii") if fields is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.getheader("Location") or "", reply.read().decode("utf-8", "replace")
    finally:
        connection.close()


class Client(threading.Thread):
    """Adds contacts and edits its last one until told to stop; remembers every acknowledged write."""

    def __init__(self, number: int, port: int, stop: threading.Event) -> None:
        super().__init__(name=f"client-{number}", daemon=True)
        self.number, self.port, self.stop = number, port, stop
        self.added: dict[int, str] = {}           # contact id -> name, for every acknowledged insert
        self.last_edit: dict[int, str] = {}       # contact id -> notes of its last acknowledged edit
        self.failures: list[str] = []

    def form(self, path: str) -> str:
        status, _, page = request(self.port, "GET", path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {page[:300]}")
        found = TOKEN.search(page)
        assert found is not None, f"no CSRF token on {path}"
        return found.group(1)

    def save(self, path: str, fields: dict[str, str]) -> int | None:
        status, location, page = request(self.port, "POST", path, dict(fields, _csrf_token=self.form(path)))
        found = re.fullmatch(r"/contacts/(\d+)", location)
        if status != 303 or found is None:
            self.failures.append(f"POST {path}: {status} {location} {page[:300]}")
            return None
        return int(found.group(1))

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                name = f"Client {self.number} contact {n}"
                contact_id = self.save("/contacts/new", {"name": name, "email": "", "phone": "", "birthday": "",
                                                         "notes": "new"})
                if contact_id is None:
                    continue
                self.added[contact_id] = name
                notes = f"edited by client {self.number} ({n})"
                if self.save(f"/contacts/{contact_id}", {"name": name, "email": "", "phone": "", "birthday": "",
                                                         "notes": notes}) == contact_id:
                    self.last_edit[contact_id] = notes
                status, _, page = request(self.port, "GET", "/contacts/")
                if status != 200:
                    self.failures.append(f"GET /contacts/: {status} {page[:300]}")
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")


def test_the_datebook_under_gunicorn_with_four_workers_and_eight_writing_clients(tmp_path: Path) -> None:
    database = tmp_path / "datebook.sqlite3"
    proc, port, log = start_gunicorn(database, tmp_path)
    stop = threading.Event()
    clients = [Client(number, port, stop) for number in range(CLIENTS)]
    try:
        for client in clients:
            client.start()
        time.sleep(SECONDS)
        stop.set()
        for client in clients:
            client.join(60)
        assert not any(client.is_alive() for client in clients)
        # Four worker processes, each with its own connection, took the load.
        pids = set(re.findall(r"Booting worker with pid: (\d+)", log.read_text()))
        assert len(pids) == WORKERS
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)       # graceful: each worker finishes and exits
        try:
            proc.wait(30)
        finally:
            stop_process(proc)

    failures = [failure for client in clients for failure in client.failures]
    assert failures == [], f"{len(failures)} failed requests, e.g. {failures[:3]}"
    gunicorn_log = log.read_text()
    assert "database is locked" not in gunicorn_log and "Traceback" not in gunicorn_log, gunicorn_log[-3000:]
    added = {contact_id: name for client in clients for contact_id, name in client.added.items()}
    edits = {contact_id: notes for client in clients for contact_id, notes in client.last_edit.items()}
    assert len(added) >= CLIENTS * 5, f"only {len(added)} contacts were added in {SECONDS} s"

    def check(path: Path) -> None:
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            stored = {row[0]: (row[1], row[2]) for row in db.execute("SELECT id, name, notes FROM contact")}
        finally:
            db.close()
        assert {contact_id: name for contact_id, (name, _) in stored.items()} == added    # none lost, none extra
        lost_edits = [contact_id for contact_id, notes in edits.items() if stored[contact_id][1] != notes]
        assert lost_edits == [], f"edits lost: {lost_edits[:5]}"

    check(database)
    # Each worker checkpointed and closed its connection at exit: the file alone has everything.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(database, alone / "datebook.sqlite3")
    check(alone / "datebook.sqlite3")
    print(f"\n{len(added)} contacts added and {len(edits)} edited by {CLIENTS} clients through {WORKERS} workers")

"""Helpers shared by kali's tests: in-thread servers, example subprocesses, raw sockets, Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kali.server import Server  # noqa: E402


def fake_browser(tmp_path: Path, name: str = "fake-browser") -> tuple[Path, Path]:
    """A $BROWSER command that records each URL it is asked to open: (the command, its record)."""
    record = tmp_path / f"{name}-opened.txt"
    script = tmp_path / name
    script.write_text(f'#!/bin/sh\necho "$1" >> "{record}"\n')
    script.chmod(0o755)
    return script, record


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def query_the_file_alone(db: Path, tmp_path: Path, sql: str) -> list[Any]:
    """The rows `sql` finds in a copy of the .sqlite3 file alone (no -wal or -shm beside it), checked whole.

    What a user who copies "the database file" as a backup gets: only rows that were
    checkpointed into it.
    """
    lone = tmp_path / "alone" / "copy.sqlite3"
    lone.parent.mkdir(exist_ok=True)
    shutil.copyfile(db, lone)
    copy = sqlite3.connect(lone)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return copy.execute(sql).fetchall()
    finally:
        copy.close()
        shutil.rmtree(lone.parent)


@contextmanager
def running_server(handler: Any, **options: Any) -> Iterator[Server]:
    """A kali Server on a free loopback port, run by a background thread for the test's duration."""
    options.setdefault("port", 0)
    with serving(Server(handler, **options)) as server:
        yield server


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """`server` run by a background thread for the test's duration.

    A Server listens from the moment it is made: a client may connect and send before this
    starts its loop, and its request is then whole when the loop first accepts it.
    """
    thread = threading.Thread(target=server.run, name="kali-test-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(10)
        if thread.is_alive():
            raise RuntimeError("the test server did not stop within 10 s")


@dataclass(frozen=True)
class Reply:
    """Everything a raw socket received, and how the connection ended.

    `ending` is "closed" (the server sent FIN), "reset" (the server aborted the connection)
    or "timed out" (it was still open when the client stopped waiting): a test that claims
    the server closed a connection asserts `reply.closed`, which a timeout never satisfies.
    """

    data: bytes
    ending: str

    @property
    def closed(self) -> bool:
        """The server ended the connection (FIN or reset), rather than the client giving up."""
        return self.ending in ("closed", "reset")


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> Reply:
    """Read from `sock` (plain or TLS) until the server closes it, or `timeout` seconds in all have passed."""
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Reply(b"".join(chunks), "timed out")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            return Reply(b"".join(chunks), "timed out")
        except ssl.SSLEOFError:
            # TLS closed without close_notify: still the server's FIN.
            return Reply(b"".join(chunks), "closed")
        except ConnectionResetError:
            return Reply(b"".join(chunks), "reset")
        if not chunk:
            return Reply(b"".join(chunks), "closed")
        chunks.append(chunk)


def exchange(port: int, data: bytes, *, timeout: float = 5.0, host: str = "127.0.0.1",
             shut_write: bool = False) -> Reply:
    """Send raw bytes (then half-close if `shut_write`), return what came back and how the connection ended."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            if data:
                sock.sendall(data)
            if shut_write:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass     # the server may answer and stop reading before everything is sent
        return read_until_closed(sock, timeout)


def raw_request(port: int, data: bytes, *, timeout: float = 5.0, host: str = "127.0.0.1",
                shut_write: bool = False) -> bytes:
    """Send raw bytes, return everything the server sends; fails if it has not closed within `timeout`."""
    reply = exchange(port, data, timeout=timeout, host=host, shut_write=shut_write)
    if not reply.closed:
        raise AssertionError(f"the server did not close the connection within {timeout} s; "
                             f"it sent {len(reply.data)} bytes: {reply.data[:200]!r}")
    return reply.data


def get(port: int, path: str = "/", *, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """A minimal HTTP/1.0 GET: (status, lower-cased headers, body)."""
    lines = [f"GET {path} HTTP/1.0", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    raw = raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), timeout=timeout)
    return parse_response(raw)


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Split a raw HTTP response into (status, lower-cased headers, body)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"no complete response head in {raw[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


@contextmanager
def running_example(name: str, env: dict[str, str] | None = None, timeout: float = 20.0) -> Iterator[str]:
    """Run examples/NAME.py as a real subprocess on a free port; yields its base URL."""
    full_env = dict(os.environ, KALI_PORT="0", KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1")
    full_env.update(env or {})
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / f"{name}.py")], cwd=str(ROOT),
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = wait_for_url(proc, timeout)
        yield url
    finally:
        stop_process(proc)


def wait_for_url(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """Read a kali process's stdout until its `kali: serving URL` line."""
    assert proc.stdout is not None
    result: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("kali: serving "):
                result.append(line.split("kali: serving ", 1)[1].strip())
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        # Read what the process said before its pipes are closed: that is the real error.
        if proc.poll() is None:
            proc.terminate()
        try:
            err = proc.stderr.read() if proc.stderr else ""
        except (OSError, ValueError):
            err = ""
        stop_process(proc)
        raise RuntimeError(f"the server did not print its URL within {timeout} s; stderr:\n{err}")
    return result[0]


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop a server process politely (SIGTERM), then firmly."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class LiveApp:
    """A kali app script run as a real process, its output collected line by line as it arrives.

    The environment is this one without any KALI_ variable, plus `env`; unless `env` says
    otherwise the app gets its own data folder (KALI_DATA_DIR=`data_dir`) and opens no browser.
    """

    def __init__(self, script: Path, data_dir: Path, env: dict[str, str | None] | None = None,
                 cwd: Path | None = None, command: list[str] | None = None, **options: Any) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KALI_")}
        full_env.update(PYTHONUNBUFFERED="1", KALI_DATA_DIR=str(data_dir), KALI_NO_BROWSER="1")
        # A None value removes the variable.
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        self.started = time.monotonic()
        # `command` replaces `python script` (`options` go to Popen: start_new_session=...).
        self.proc = subprocess.Popen(command or [sys.executable, str(script)], env=full_env,
                                     cwd=str(cwd or script.parent), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, **options)
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, lines: list[str]) -> None:
        try:
            for line in stream:
                with self._changed:
                    lines.append(line.rstrip("\n"))
                    self._changed.notify_all()
        except (OSError, ValueError):
            pass        # stop() closed the pipe
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        """Everything the process printed so far (stdout)."""
        return "\n".join(self.out)

    @property
    def errors(self) -> str:
        """Everything the process wrote to stderr so far."""
        return "\n".join(self.err)

    def wait_for(self, text: str, timeout: float = 20.0, *, stream: str = "out") -> str:
        """The first line of stdout (or stderr) containing `text`; fails after `timeout` seconds."""
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in lines:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                ended = self.proc.poll() is not None and not any(r.is_alive() for r in self._readers)
                if left <= 0 or ended:
                    how = f"the process ended with status {self.proc.returncode}" if ended else \
                        f"not within {timeout} s"
                    raise AssertionError(f"no line with {text!r}: {how}; stdout:\n{self.output}\n"
                                         f"stderr:\n{self.errors}")
                self._changed.wait(min(left, 0.2))

    def url(self, timeout: float = 20.0) -> str:
        """The URL from the `kali: serving URL` line."""
        return self.wait_for("kali: serving ", timeout).split("kali: serving ", 1)[1].split()[0]

    def port(self, timeout: float = 20.0) -> int:
        """The port the app serves on."""
        return int(self.url(timeout).rstrip("/").rsplit(":", 1)[1])

    def wait(self, timeout: float = 10.0) -> int:
        """The exit status, once the process has ended (and its output is all read)."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def stop(self) -> None:
        """Stop the process if it still runs (SIGTERM, then SIGKILL)."""
        stop_process(self.proc)

    def __enter__(self) -> "LiveApp":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


LIFECYCLE_APP = ROOT / "tests" / "apps" / "lifecycle.py"


def require_mypy() -> None:
    """Fail (never skip) without mypy: it is a test dependency, and a skip would let CI pass unchecked."""
    import pytest
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail("mypy is missing: it is a test dependency (tests/requirements.txt, installed by ./demo.sh test)")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


def browser_missing() -> str | None:
    """Why headless Chromium cannot run here (None when it can)."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (install it with: apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is missing (pip install playwright into .venv; never run `playwright install`)"
    return None


@contextmanager
def chromium(root: Path, *, args: list[str] | None = None, **launch_options: Any) -> Iterator[Any]:
    """A headless Chromium context with a fresh profile under `root`; skips (fails under CI=true) without one.

    `args` replaces the standard command-line flags (CHROMIUM_ARGS); other keywords go to
    Playwright's launch_persistent_context (viewport=, accept_downloads=, locale=...).
    """
    import pytest
    missing = browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright
    env = dict(os.environ, XDG_CONFIG_HOME=str(root / "config"), XDG_CACHE_HOME=str(root / "cache"))
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(root / "profile"), executable_path=CHROMIUM, headless=True, args=args or CHROMIUM_ARGS,
            env=env, timeout=30000, **launch_options)
        context.set_default_timeout(15000)
        context.set_default_navigation_timeout(15000)
        try:
            yield context
        finally:
            context.close()

"""The tutorial examples without a browser: the catalogue, ./demo.sh, offline assets, and each app's rules.

The browser tests (test_examples_browser.py) click through the pages; these
check what is quicker to check in-process with kali.testing.Client or over
plain HTTP: conversions and validation answers, unsafe file names, the
cross-site refusal the examples rely on, the job's arithmetic.
"""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
from support import ROOT, raw_request, running_example, stop_process, wait_for_url

from kali.reserved import asset_url
from kali.testing import Client

EXAMPLES = ROOT / "examples"
MINE = ["intro", "static_content", "simple_task_list", "templates_tour", "guard", "uploads",
        "live_progress", "json_api"]


def load(name: str) -> ModuleType:
    """A fresh copy of examples/NAME.py as a module (its serve_http call is under __main__, so not run)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the set of examples ----------------------------------------------------------------------

def test_demo_sh_lists_the_examples_in_tutorial_order_with_their_first_docstring_line() -> None:
    result = subprocess.run(["sh", str(ROOT / "demo.sh")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    order = load("catalog").ORDER
    assert [name for name in listed if name in MINE] == [name for name in order if name in MINE]
    for name in MINE:
        first_line = load("catalog").describe(EXAMPLES / f"{name}.py")
        assert f"  {name}" in result.stdout and first_line in result.stdout


@pytest.mark.parametrize("name", MINE)
def test_each_example_is_a_tutorial(name: str) -> None:
    source = (EXAMPLES / f"{name}.py").read_text(encoding="utf-8")
    module = load(name)
    doc = module.__doc__ or ""
    first, _, rest = doc.partition("\n")
    # One line for ./demo.sh's list: a sentence, short enough for a terminal.
    assert first.endswith(".") and len(first) <= 100, first
    assert f"./demo.sh {name}" in rest, "the docstring says how to run it"
    assert source.rstrip().endswith(("serve_http(app)", "serve_http(guard(app, db))", "serve_http(handler)"))
    assert 'if __name__ == "__main__":' in source
    assert "time.sleep" not in source.replace("NOT time.sleep()", ""), "a sleep would stop the only thread"


ASSET_DIRS = [EXAMPLES, ROOT / "templates"]
# A URL that leaves this machine: in src=, href=, action=, url(...), @import or fetch(...).
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|"""
                      r"""@import\s+["']?(?:url\()?["']?(?:https?:)?//|fetch\(\s*["'`](?:https?:)?//""", re.I)


def test_examples_work_offline_no_cdn_links() -> None:
    checked = 0
    for folder in ASSET_DIRS:
        for path in folder.rglob("*"):
            if path.suffix not in {".py", ".tpl", ".html", ".css", ".js", ".svg"}:
                continue
            text = path.read_text(encoding="utf-8")
            # The SVG namespace is an identifier, never fetched.
            text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
            match = EXTERNAL.search(text)
            assert match is None, f"{path.relative_to(ROOT)} loads something from the network: {match.group(0)!r}"
            checked += 1
    assert checked >= 20


# -- ./demo.sh NAME --port --no-browser ------------------------------------------------------------

def test_demo_sh_runs_intro_with_port_and_no_browser_on_plain_python(tmp_path: Path) -> None:
    # No venv: the interpreter demo.sh finds on PATH, and only the standard library.
    env = {k: v for k, v in os.environ.items() if k not in ("KALI_PORT", "KALI_NO_BROWSER", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    env["PYTHONUNBUFFERED"] = "1"
    env["BROWSER"] = str(tmp_path / "no-such-browser")       # if --no-browser were ignored, nothing opens
    proc = subprocess.Popen(["sh", str(ROOT / "demo.sh"), "intro", "--port", "0", "--no-browser"], cwd=str(tmp_path),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = wait_for_url(proc, 20)
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        reply = raw_request(port, f"GET /hello/Ada HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(), timeout=5)
        assert reply.startswith(b"HTTP/1.0 200") and b"Hello, Ada!" in reply
    finally:
        stop_process(proc)


ORDER: list[str] = load("catalog").ORDER


@pytest.fixture
def browser_marker(tmp_path: Path) -> tuple[Path, Path]:
    """A fake browser command (for $BROWSER) that leaves a file behind when it is run."""
    marker = tmp_path / "browser-was-opened"
    script = tmp_path / "fake-browser"
    script.write_text(f'#!/bin/sh\necho "$1" > "{marker}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, marker


def demo_env(tmp_path: Path, fake_browser: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALI_")}
    # A tab, so the fake $BROWSER is what opens even where a Chromium-family browser could show a window.
    env.update(PYTHONUNBUFFERED="1", BROWSER=str(fake_browser), KALI_WINDOW="tab", KALI_DATA_DIR=str(tmp_path / "data"),
               KALI_DATEBOOK_DB=str(tmp_path / "datebook.sqlite3"), KALI_GUARD_DB=str(tmp_path / "guard.sqlite3"),
               KALI_UPLOADS_DIR=str(tmp_path / "uploads"))
    return env


def fetch(port: int, path: str) -> bytes:
    return raw_request(port, f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(), timeout=10)


@pytest.mark.parametrize("name", ORDER)
def test_demo_sh_runs_every_example_with_port_and_no_browser(name: str, tmp_path: Path,
                                                            browser_marker: tuple[Path, Path]) -> None:
    fake_browser, marker = browser_marker
    proc = subprocess.Popen(["sh", str(ROOT / "demo.sh"), name, "--port", "0", "--no-browser"], cwd=str(tmp_path),
                            env=demo_env(tmp_path, fake_browser), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = wait_for_url(proc, 20)
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert port != 8080, "--port 0 was not passed on"
        home = fetch(port, "/")
        assert home.startswith(b"HTTP/1.0 200") and b"<!DOCTYPE html>" in home, home[:300]
        # Every example links the stylesheet that ships with kali, which every kali app serves.
        css = asset_url("kali.css").encode()
        assert b'href="' + css + b'"' in home or b"href='" + css + b"'" in home
        assert fetch(port, css.decode()).startswith(b"HTTP/1.0 200")
        time.sleep(0.5)           # the browser is opened from a thread right after the URL is printed
    finally:
        stop_process(proc)
    assert not marker.exists(), "--no-browser was ignored: a browser was opened"


def test_without_no_browser_the_fake_browser_is_opened(tmp_path: Path, browser_marker: tuple[Path, Path]) -> None:
    # The control for the test above: the marker does appear when a browser is asked for.
    fake_browser, marker = browser_marker
    proc = subprocess.Popen(["sh", str(ROOT / "demo.sh"), "intro", "--port=0"], cwd=str(tmp_path),
                            env=demo_env(tmp_path, fake_browser), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = wait_for_url(proc, 20)
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop_process(proc)
    assert marker.exists() and marker.read_text().strip().startswith(url)


# -- demo.cmd, the same front door on Windows ------------------------------------------------------

DEMO_CMD = ROOT / "demo.cmd"


def test_demo_cmd_has_windows_line_endings() -> None:
    # cmd.exe mis-parses labels (goto) in files with bare LF line ends.
    data = DEMO_CMD.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") > 10


def test_demo_cmd_mirrors_demo_sh() -> None:
    cmd = DEMO_CMD.read_text(encoding="ascii")
    sh = (ROOT / "demo.sh").read_text(encoding="utf-8")
    # Every word demo.sh understands, demo.cmd understands too.
    for word in ("list", "-h", "--help", "test", "--port", "--no-browser", "--tab", "--reload"):
        assert f'"{word}"' in sh or f"{word})" in sh or f"| {word}" in sh or f"{word} |" in sh, word
        assert f'"{word}"' in cmd, f"demo.cmd does not handle {word}"
    for name in ("KALI_PORT", "KALI_NO_BROWSER", "KALI_WINDOW", "KALI_RELOAD", "PYTHON", ".kali-requirements", "tests/requirements.txt",
                 "examples/catalog.py"):
        assert name in sh and name.replace("/", "\\") in cmd, name
    assert "exit /b 2" in cmd and "exit 2" in sh          # an unknown example is an error in both


def arguments_read_after_a_shift(script: str) -> list[int]:
    """Line numbers where a parenthesised block reads %1..%9 after a `shift` inside the same block.

    cmd.exe expands a whole block when it reads it, so such a %1 is still the old %1.
    (Reading arguments before the shifts, then `goto`, is the correct idiom.)
    """
    argument = re.compile(r"%~?[0-9]")
    found = []
    depth = 0
    shifted = False
    for number, line in enumerate(script.splitlines(), 1):
        code = line.strip()
        if code.lower().startswith("rem"):
            continue
        for block in re.findall(r"\(([^()]*)\)", code):          # one-line blocks: ( ... shift ... %1 )
            if argument.search(block.lower().partition("shift")[2]):
                found.append(number)
        if depth and shifted and argument.search(code):
            found.append(number)
        if depth and re.match(r"shift\b", code, re.I):
            shifted = True
        depth += code.count("(") - code.count(")")
        if depth <= 0:
            depth, shifted = 0, False
    return found


def test_the_shift_checker_catches_what_it_should() -> None:
    assert arguments_read_after_a_shift('if "%1"=="x" (set A=%2& shift & set B=%1& goto x)') == [1]
    assert arguments_read_after_a_shift('if "%1"=="x" (\n  set A=%~2\n  shift\n  set B=%~1\n)') == [4]
    assert arguments_read_after_a_shift('if "%1"=="x" (\n  set A=%~2\n  shift\n  goto x\n)\necho %1') == []


def test_demo_cmd_never_reads_an_argument_after_a_shift_in_the_same_block() -> None:
    assert arguments_read_after_a_shift(DEMO_CMD.read_text(encoding="ascii")) == []


# -- intro ------------------------------------------------------------------------------------

def test_intro_converts_and_refuses_with_the_parameter_named() -> None:
    client = Client(load("intro").app)
    assert client.get("/hello/Ada", query={"times": "2"}).text.count("<li>Hello, Ada!</li>") == 2
    refused = client.get("/hello/Ada?times=lots")
    assert refused.status == 400 and "&#x27;times&#x27;" in refused.text and "whole number" in refused.text
    assert client.get("/add/20/22").text.startswith("20 + 22 = 42")
    assert client.get("/add/20/22").headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/add/2/forty").status == 404
    assert client.get("/secret").status == 403
    broken = client.get("/broken")
    assert broken.status == 500 and "KeyError" in broken.text
    # Markup in a wildcard is escaped.
    assert "&lt;b&gt;" in client.get("/hello/%3Cb%3E").text


# -- simple_task_list -------------------------------------------------------------------------

def test_task_list_post_redirect_get_and_bad_input() -> None:
    module = load("simple_task_list")
    client = Client(module.app)
    added = client.post("/add", data={"title": "  Write tests  "})
    assert added.status == 303 and added.location == "/"
    task = max(module.tasks.tasks.values(), key=lambda t: t.id)
    assert task.title == "Write tests"
    assert client.post("/add", data={"title": "   "}).status == 400
    assert client.post("/add", data={}).status == 400
    assert client.post(f"/task/{task.id}", data={"action": "explode"}).status == 400
    assert client.get("/task/999").status == 404
    assert client.get("/task/seven").status == 404
    assert client.post(f"/task/{task.id}", data={"action": "toggle"}).status == 303 and task.done


# -- templates_tour ---------------------------------------------------------------------------

def test_templates_tour_renders_every_section_and_reports_both_mistakes() -> None:
    client = Client(load("templates_tour").app)
    page = client.get("/")
    assert page.status == 200
    for section in ("placeholders", "formatters", "conditionals", "loops", "include", "base", "mistakes"):
        assert f'id="{section}"' in page.text
    broken = client.get("/broken")
    assert broken.status == 500 and "broken.tpl:6:1: unknown directive" in broken.text
    forgot = client.get("/forgot")
    assert forgot.status == 500 and "receipt.tpl:4:36: missing parameter" in forgot.text


# -- uploads ----------------------------------------------------------------------------------

@pytest.fixture
def uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Path]]:
    store = tmp_path / "store"
    monkeypatch.setenv("KALI_UPLOADS_DIR", str(store))
    module = load("uploads")
    yield module, store


@pytest.mark.parametrize("sent, stored", [
    ("report.pdf", "report.pdf"),
    (".bashrc", "bashrc"),                      # never a hidden file
    ("..", "upload"),
    ("a/b\\c.txt", "c.txt"),                     # kali keeps only the last part of a client path
    ("what?<>|*:.txt", "what______.txt"),
    ("résumé 2024.odt", "résumé 2024.odt"),
])
def test_uploads_store_files_under_safe_names(uploads: tuple[Any, Path], sent: str, stored: str) -> None:
    module, store = uploads
    client = Client(module.app)
    answer = client.post("/upload", files={"files": (sent, b"contents")})
    assert answer.status == 303 and answer.location == "/"
    assert "1 file uploaded." in client.get("/").text       # the flash message, once
    assert os.listdir(store) == [stored]
    assert (store / stored).read_bytes() == b"contents"


def test_uploads_refuse_names_outside_the_folder_and_empty_forms(uploads: tuple[Any, Path], tmp_path: Path) -> None:
    module, store = uploads
    (tmp_path / "secret.txt").write_text("not yours")
    client = Client(module.app)
    for name in ("..%2Fsecret.txt", "%2E%2E%2Fsecret.txt", "secret.txt", "%2Fetc%2Fpasswd"):
        assert client.get(f"/files/{name}").status == 404, name
    assert client.post("/upload", files={"files": ("", b"")}).status == 400
    client.post("/upload", files={"files": [("a.txt", b"1"), ("a.txt", b"2"), ("a.txt", b"3")]})
    assert sorted(os.listdir(store)) == ["a (2).txt", "a (3).txt", "a.txt"]
    download = client.get("/files/a%20(2).txt")
    assert download.body == b"2"
    assert download.headers["content-disposition"] == 'attachment; filename="a (2).txt"'
    assert client.post("/files/a.txt/delete").status == 303
    assert sorted(os.listdir(store)) == ["a (2).txt", "a (3).txt"]


# -- live_progress ----------------------------------------------------------------------------

def test_live_progress_counts_primes_correctly() -> None:
    module = load("live_progress")
    sieve = bytearray([1]) * 10_000
    sieve[0:2] = b"\0\0"
    for p in range(2, 100):
        if sieve[p]:
            sieve[p * p::p] = bytes(len(range(p * p, 10_000, p)))
    for start, stop in [(0, 10_000), (0, 2), (2, 3), (97, 98), (1000, 2000), (9_000, 10_000)]:
        assert module.count_primes(start, stop) == sum(sieve[start:stop]), (start, stop)


def test_live_progress_stream_is_events_with_pauses_and_cleans_up() -> None:
    module = load("live_progress")
    client = Client(module.app)
    answer = client.get("/job")
    assert answer.headers["content-type"] == "text/event-stream"
    blocks = answer.text.strip().split("\n\n")
    assert len(blocks) == module.STEPS + 1
    assert blocks[0].startswith("event: progress\ndata: {")
    assert blocks[-1].startswith("event: done\n") and '"found": 148933' in blocks[-1]
    assert module.running == 0
    # The job yields a Pause after every step: never a sleep.
    items = list(module.prime_job())
    assert sum(type(item).__name__ == "Pause" for item in items) == module.STEPS
    # A page closed mid-job: the generator is closed and the count goes back down.
    job = module.prime_job()
    next(job)
    assert module.running == 1
    job.close()
    assert module.running == 0


# -- json_api ---------------------------------------------------------------------------------

def test_json_api_validation_answers_400_with_the_field() -> None:
    client = Client(load("json_api").app)
    cases = [
        ({"text": ""}, "text"),
        ({"text": "x" * 201}, "text"),
        ({"text": 5}, "text"),
        ({"text": "ok", "priority": 4}, "priority"),
        ({"text": "ok", "priority": True}, "priority"),
        (["not", "an", "object"], ""),
    ]
    for body, field in cases:
        answer = client.post("/api/notes", json=body)
        assert answer.status == 400 and answer.json()["field"] == field, body
        assert answer.headers["content-type"] == "application/json"
    assert client.post("/api/notes", body=b"{oops", headers={"Content-Type": "application/json"}).status == 400
    created = client.post("/api/notes", json={"text": " Buy milk ", "priority": 1})
    assert created.status == 201 and created.json() == {"id": 2, "text": "Buy milk", "priority": 1}
    assert created.headers["location"] == "/api/notes/2"
    assert client.get("/api/notes/2").json()["text"] == "Buy milk"
    assert [n["id"] for n in client.get("/api/notes").json()["notes"]] == [1, 2]     # normal before low
    assert client.delete("/api/notes/2").status == 204
    missing = client.delete("/api/notes/2")
    assert missing.status == 404 and missing.json()["field"] == "id"


def test_json_api_refuses_a_cross_site_post_but_not_its_own_page() -> None:
    with running_example("json_api") as url:
        port = int(url.rstrip("/").rsplit(":", 1)[1])

        def post(extra: str) -> bytes:
            body = b'{"text": "hello"}'
            head = (f"POST /api/notes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n{extra}\r\n")
            return raw_request(port, head.encode() + body, timeout=5)

        assert post("Sec-Fetch-Site: cross-site\r\nOrigin: https://evil.example\r\n").startswith(b"HTTP/1.0 403")
        assert post(f"Sec-Fetch-Site: same-origin\r\nOrigin: http://127.0.0.1:{port}\r\n").startswith(b"HTTP/1.0 201")


def test_examples_run_from_any_working_directory(tmp_path: Path) -> None:
    # The examples find kali, their templates and static files from their own location.
    env = dict(os.environ, KALI_PORT="0", KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1", KALI_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "templates_tour.py")], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(wait_for_url(proc, 20).rstrip("/").rsplit(":", 1)[1])
        for path in ("/", asset_url("kali.css")):
            reply = raw_request(port, f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(), timeout=5)
            assert reply.startswith(b"HTTP/1.0 200"), (path, reply[:200])
    finally:
        stop_process(proc)


# -- where the examples keep their data --------------------------------------------------------

def database_file(module: ModuleType) -> Path:
    return Path(module.db.execute("PRAGMA database_list").fetchone()["file"])


@pytest.mark.parametrize("name, variable", [("datebook", "KALI_DATEBOOK_DB"), ("guard", "KALI_GUARD_DB")])
def test_sqlite_examples_use_the_data_folder_unless_a_file_is_named(name: str, variable: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KALI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(variable, raising=False)
    module = load(name)
    try:
        assert database_file(module) == tmp_path / "data" / f"kali-{name}" / f"kali-{name}.sqlite3"
    finally:
        module.db.close()
    named = tmp_path / "elsewhere.sqlite3"
    monkeypatch.setenv(variable, str(named))
    module = load(name)
    try:
        assert database_file(module) == named
        assert module.db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] >= 2
    finally:
        module.db.close()


def test_uploads_use_the_data_folder_unless_a_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KALI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KALI_UPLOADS_DIR", raising=False)
    assert load("uploads").FOLDER == tmp_path / "data" / "kali-uploads"
    monkeypatch.setenv("KALI_UPLOADS_DIR", str(tmp_path / "mine"))
    assert load("uploads").FOLDER == tmp_path / "mine"

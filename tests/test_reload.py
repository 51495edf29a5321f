"""`run --reload` on real processes: new code on the same port without a refused connection, broken saves, what
is watched and what is not, the pages told, and every way the supervisor and its app process stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from kali.reload import changed_files
from kali.reload_home import AppHome, StandIn
from kali.request import Request
from kali.server import listening_socket

from support import ROOT, LiveApp, exchange, fake_browser, get, parse_response, process_alive as alive

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and process groups as on POSIX")

APP = textwrap.dedent('''\
    import os
    import sys
    import time
    from pathlib import Path

    from kali import Response, Router, TemplateFolder, serve_http
    from kali.forms import csrf_token, verify_csrf_token

    HERE = Path(__file__).resolve().parent
    print(f"module code ran in {os.getpid()} with {sys.argv[1:]}", flush=True)
    VERSION = "one"
    app = Router()
    templates = TemplateFolder(HERE / "templates")


    @app.function("/")
    def home():
        return f"<!DOCTYPE html><title>home</title><h1 id=version>version {VERSION}</h1>"


    @app.function("/pid")
    def pid():
        return Response.plain_text(str(os.getpid()))


    @app.function("/slow")
    def slow():
        print(f"slow request started in {os.getpid()}", flush=True)
        time.sleep(1.5)
        return Response.plain_text(f"slow answer from version {VERSION}")


    @app.function("/page")
    def page():
        return templates("page", version=VERSION)


    @app.function("/token")
    def token():
        return Response.plain_text(csrf_token("/form"))


    @app.function("/check")
    def check(token: str):
        return Response.plain_text("valid" if verify_csrf_token(token, "/form") else "invalid")


    @app.function("/quit")
    def quit():
        return Response("bye", shut_down=True)


    serve_http(app)
''')


def save(path: Path, text: str) -> None:
    """Write `text` as an editor would, making sure the file's stamp moves (a clock tick may be coarse)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    info = path.stat()
    if info.st_mtime_ns <= before:
        os.utime(path, ns=(info.st_atime_ns, before + 1_000_000))


def make_app(tmp_path: Path, source: str = APP) -> Path:
    folder = tmp_path / "app"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "page.tpl").write_text("<h1>page of version {version}</h1>\n")
    script = folder / "app.py"
    script.write_text(source)
    return script


def reloading(script: Path, tmp_path: Path, env: dict[str, str | None] | None = None, *,
              command: list[str] | None = None, **options: object) -> LiveApp:
    """`python -m kali run --reload app.py` as a real process, kali importable, on a free port, no browser."""
    full_env: dict[str, str | None] = {"KALI_PORT": "0", "PYTHONPATH": str(ROOT)}
    full_env.update(env or {})
    return LiveApp(script, tmp_path / "data", env=full_env,
                   command=command or [sys.executable, "-m", "kali", "run", "--reload", str(script)], **options)


def text(port: int, path: str = "/") -> tuple[int, str]:
    status, _, body = get(port, path)
    return status, body.decode("utf-8")


def wait_until(what: str, check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():                                 # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def answers(port: int, path: str, wanted: str, timeout: float = 15.0) -> None:
    wait_until(f"GET {path} answering {wanted!r}", lambda: wanted in text(port, path)[1], timeout)


def count(app: LiveApp, fragment: str) -> int:
    return sum(fragment in line for line in app.out)


def assert_stopped(app: LiveApp, reason: str, timeout: float = 5) -> None:
    """The whole run ended with status 0, its last console line saying why."""
    assert app.wait(timeout) == 0
    assert app.out[-1] == f"kali: stopped ({reason})"


def wait_for_count(app: LiveApp, fragment: str, n: int, timeout: float = 15.0) -> None:
    wait_until(f"{n} lines with {fragment!r}; stdout:\n{app.output}\nstderr:\n{app.errors}",
               lambda: count(app, fragment) >= n, timeout)


class Probe(threading.Thread):
    """Requests GET / on a new connection every 20 ms and keeps how each one ended."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.results: list[tuple[str, int, str]] = []
        self.done = threading.Event()

    def run(self) -> None:
        request = f"GET / HTTP/1.0\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
        while not self.done.is_set():
            try:
                reply = exchange(self.port, request, timeout=10)
            except OSError as exc:          # refused, reset while connecting
                self.results.append((f"error {exc!r}", 0, ""))
            else:
                if reply.ending != "closed":
                    self.results.append((reply.ending, 0, reply.data[:200].decode("latin-1")))
                else:
                    try:
                        status, _, body = parse_response(reply.data)
                    except AssertionError:
                        self.results.append(("no response", 0, reply.data[:200].decode("latin-1")))
                    else:
                        self.results.append(("ok", status, body.decode("utf-8", "replace")))
            time.sleep(0.02)


@contextmanager
def probing(port: int) -> Iterator[Probe]:
    probe = Probe(port)
    probe.start()
    try:
        yield probe
    finally:
        probe.done.set()
        probe.join(15)


# -- new code on the same port ------------------------------------------------------------------------

def test_a_saved_handler_answers_on_the_same_port_and_no_connection_is_refused_or_reset_meanwhile(
        tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        assert "version one" in text(port)[1]
        old_pid = int(text(port, "/pid")[1])
        with probing(port) as probe:
            wait_until("the probe's first answers", lambda: len(probe.results) >= 5)
            save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
            answers(port, "/", "version two")
            app.wait_for("kali: reloaded in")
            after = len(probe.results)
            wait_until("ten more answers", lambda: len(probe.results) >= after + 10)
        failures = [result for result in probe.results if result[0] != "ok" or result[1] != 200]
        assert failures == []
        versions = [("two" if "version two" in body else "one") for _, _, body in probe.results]
        assert len(versions) >= 20 and "one" in versions and versions[-5:] == ["two"] * 5
        new_pid = int(text(port, "/pid")[1])
        assert new_pid != old_pid and new_pid != app.proc.pid
        wait_until("the old app process ends", lambda: not alive(old_pid))
        assert count(app, "kali: serving ") == 1                 # one URL, one port for the whole run
        assert "kali: app.py changed: starting the new code" in app.output


def test_module_code_runs_once_in_each_app_process_and_never_in_the_supervisor(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    command = [sys.executable, "-m", "kali", "run", "--reload", str(script), "--verbose", "a b"]
    with reloading(script, tmp_path, command=command) as app:
        port = app.port()
        for version in ("two", "three"):
            save(script, APP.replace('VERSION = "one"', f'VERSION = "{version}"'))
            answers(port, "/", f"version {version}")
        lines = [line for line in app.out if line.startswith("module code ran in")]
        pids = [int(line.split()[4]) for line in lines]
        assert len(pids) == 3 and len(set(pids)) == 3, app.output
        assert app.proc.pid not in pids
        assert all(line.endswith("with ['--verbose', 'a b']") for line in lines)      # the app's own arguments
        assert int(text(port, "/pid")[1]) == pids[-1]


def test_the_old_process_finishes_its_response_in_flight(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        slow: list[tuple[int, str]] = []
        waiting = threading.Thread(target=lambda: slow.append(text(port, "/slow")))
        waiting.start()
        app.wait_for("slow request started")
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        answers(port, "/", "version two")
        waiting.join(10)
        assert slow == [(200, "slow answer from version one")]


# -- broken saves ----------------------------------------------------------------------------------

def test_a_syntax_error_is_a_500_page_with_file_line_and_code_until_the_next_good_save(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        old = serving_pid(port)
        broken = APP.replace('VERSION = "one"', 'VERSION = "one"\ndef half_written(:')
        line = broken.splitlines().index("def half_written(:") + 1
        save(script, broken)
        app.wait_for("does not start")
        wait_until("the old app process ends", lambda: not alive(old))     # it finishes what it was doing
        for path in ("/", "/pid", "/anything/else"):
            status, page = text(port, path)
            assert status == 500
            assert "SyntaxError" in page and "app.py</code>, line " + str(line) in page
            assert "def half_written(:" in page
            assert "/_kali/page." in page                # the error page reloads itself when the app starts
        assert (f"kali: app.py does not start: SyntaxError: invalid syntax (app.py, line {line}); "
                f"every page shows the error until the next save") in app.output
        app.wait_for("SyntaxError", stream="err")      # the traceback on the console too
        assert app.proc.poll() is None
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        app.wait_for("kali: app.py starts again")
        assert text(port) == (200, text(port)[1]) and "version two" in text(port)[1]


def test_an_error_at_import_and_a_route_published_twice_show_their_place(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        old = serving_pid(port)
        source = APP.replace("app = Router()\n", "app = Router()\nsettings = load_settings()\n")
        save(script, source)
        app.wait_for("does not start: NameError")
        wait_until("the old app process ends", lambda: not alive(old))
        status, page = text(port)
        line = source.splitlines().index("settings = load_settings()") + 1
        assert status == 500 and "name &#x27;load_settings&#x27; is not defined" in page
        assert f"app.py, line {line}, in &lt;module&gt;" in page
        twice = APP.replace('@app.function("/pid")', '@app.function("/")\ndef again():\n    return "again"\n\n\n'
                                                     '@app.function("/pid")')
        save(script, twice)
        app.wait_for("does not start: RouteError")
        status, page = text(port)
        assert status == 500 and "GET is already served by __main__.home" in page
        save(script, APP)
        app.wait_for("starts again")
        assert "version one" in text(port)[1]


def test_the_error_page_is_for_this_machine_only(tmp_path: Path) -> None:
    listener = listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    home = AppHome({"app": "notes", "data_folder": str(tmp_path), "allowed_hosts": []}, listener, None)
    page = "<!DOCTYPE html><title>500 SyntaxError</title><pre>app.py, line 12: def half_written(:</pre>"
    stand_in = StandIn(home, "SyntaxError: invalid syntax (app.py, line 12)", page)
    try:
        def answer(client: str) -> tuple[int, str]:
            from kali.exchange import prepare_reply
            request = Request("GET", "/anything", headers={"Host": f"127.0.0.1:{port}"}, client=(client, 40000),
                              server=("127.0.0.1", port))
            reply = prepare_reply(request, stand_in.server.handler(request), debug=True)
            return reply.response.code, b"".join(reply.chunks).decode("utf-8")

        code, local = answer("127.0.0.1")
        assert code == 500 and "def half_written(:" in local and "app.py, line 12" in local
        code, remote = answer("192.168.1.20")
        assert code == 500 and "half_written" not in remote and "app.py" not in remote
        assert "does not start just now" in remote
        stand_in.show("NameError: name 'x' is not defined (app.py, line 3)", None)
        code, local = answer("::1")
        assert code == 500 and "NameError: name &#x27;x&#x27; is not defined (app.py, line 3)" in local
    finally:
        stand_in.hand_over()
        stand_in.thread.join(5)
        listener.close()
    assert stand_in.done


def test_an_app_broken_from_the_start_is_served_as_its_error_page(tmp_path: Path) -> None:
    script = make_app(tmp_path, APP.replace("import os\n", "import os\nimport not_written_yet\n"))
    with reloading(script, tmp_path) as app:
        port = app.port()
        app.wait_for("does not start: ModuleNotFoundError")
        assert text(port)[0] == 500 and "not_written_yet" in text(port)[1]
        # Writing the missing module is a change too: the app starts.
        (script.parent / "not_written_yet.py").write_text("")
        app.wait_for("starts again")
        assert "version one" in text(port)[1]


def test_an_app_process_that_dies_is_shown_as_an_error_until_the_next_save(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        child = serving_pid(port)
        os.kill(child, signal.SIGKILL)
        app.wait_for("does not start: the app process ended (exit status -9)")
        assert text(port)[0] == 500
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        answers(port, "/", "version two")


# -- what is watched ---------------------------------------------------------------------------------

DB_APP = APP.replace("serve_http(app)\n", textwrap.dedent('''\
    from kali.sqlite import open_database
    db = open_database(HERE / "notes.sqlite3", schema="CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT);")


    @app.function("/write")
    def write(text: str):
        with db:
            db.execute("INSERT INTO note (text) VALUES (?)", (text,))
        return Response.plain_text("written")


    serve_http(app)
'''))


def test_the_app_writing_its_sqlite_file_and_other_data_triggers_nothing(tmp_path: Path) -> None:
    script = make_app(tmp_path, DB_APP)
    with reloading(script, tmp_path) as app:
        port = app.port()
        pid = text(port, "/pid")[1]
        for n in range(20):
            assert text(port, f"/write?text=note{n}") == (200, "written")
        folder = script.parent
        for name in ("cache.db", "cache.db-journal", "notes.sqlite3-shm.tmp", ".venv/lib/site.py", "__pycache__/app.py",
                     ".git/index.py", "uploads/report.csv", "exports/notes.json"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text("data")
        assert (folder / "notes.sqlite3").exists()
        # Then a change to the code: the look that finds it finds whatever was written before it too.
        save(script, DB_APP.replace('VERSION = "one"', 'VERSION = "two"'))
        answers(port, "/", "version two")
        assert [line for line in app.out if line.endswith("starting the new code")] == \
               ["kali: app.py changed: starting the new code"]
        assert text(port, "/pid")[1] != pid and count(app, "module code ran") == 2, app.output


def test_a_template_change_reloads_the_pages_and_keeps_the_process(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        pid = text(port, "/pid")[1]
        assert "page of version one" in text(port, "/page")[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stream:
            stream.sendall(f"GET /_kali/events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            received = b""
            while b"event: hello" not in received:
                received += stream.recv(4096)
            save(script.parent / "templates" / "page.tpl", "<h1>new page of version {version}</h1>\n")
            while b"event: reload" not in received:
                chunk = stream.recv(4096)
                assert chunk, received
                received += chunk
        reload = received[received.index(b"event: reload"):].split(b"\n")[1]
        assert json.loads(reload.removeprefix(b"data: ")) == {"changed": ["templates/page.tpl"]}
        assert "new page of version one" in text(port, "/page")[1]
        assert text(port, "/pid")[1] == pid and count(app, "starting the new code") == 0


def test_a_template_outside_the_apps_folder_is_watched_once_the_app_has_used_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "banner.tpl").write_text("<p>banner one</p>\n")
    source = APP.replace("serve_http(app)\n", f'''shared = TemplateFolder({str(shared)!r})


@app.function("/banner")
def banner():
    return shared("banner")


serve_http(app)
''')
    script = make_app(tmp_path, source)
    with reloading(script, tmp_path) as app:
        port = app.port()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stream:
            stream.sendall(f"GET /_kali/events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            received = b""
            while b"event: hello" not in received:
                received += stream.recv(4096)
            assert "banner one" in text(port, "/banner")[1]
            # At once: the app says which version it read, so this edit counts even before the
            # supervisor hears of the file.
            save(shared / "banner.tpl", "<p>banner two</p>\n")
            while b"event: reload" not in received:
                chunk = stream.recv(4096)
                assert chunk, received
                received += chunk
        assert str(shared / "banner.tpl").encode() in received
        assert "banner two" in text(port, "/banner")[1]


def test_form_tokens_made_before_a_swap_are_valid_after_it(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        token = text(port, "/token")[1]
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        answers(port, "/", "version two")
        assert text(port, f"/check?token={token}") == (200, "valid")
        assert text(port, "/check?token=forged") == (200, "invalid")


# -- stopping ----------------------------------------------------------------------------------------

def serving_pid(port: int) -> int:
    return int(text(port, "/pid")[1])


def test_ctrl_c_stops_both_processes(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    # A terminal sends Ctrl-C to its whole foreground process group: the supervisor and the app.
    with reloading(script, tmp_path, start_new_session=True) as app:
        port = app.port()
        child = serving_pid(port)
        os.killpg(app.proc.pid, signal.SIGINT)
        assert_stopped(app, "Ctrl-C was pressed")
        wait_until("the app process ends", lambda: not alive(child), 5)
        assert "Traceback" not in app.errors


def test_sigterm_to_the_supervisor_alone_stops_the_app_too(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        child = serving_pid(port)
        app.proc.send_signal(signal.SIGTERM)
        assert_stopped(app, "SIGTERM was received")
        wait_until("the app process ends", lambda: not alive(child), 5)


def test_a_second_signal_stops_a_stuck_response_at_once(tmp_path: Path) -> None:
    script = make_app(tmp_path, APP.replace("time.sleep(1.5)", "time.sleep(60)"))
    with reloading(script, tmp_path) as app:
        port = app.port()
        threading.Thread(target=lambda: exchange(port, b"GET /slow HTTP/1.0\r\n\r\n", timeout=30),
                         daemon=True).start()
        app.wait_for("slow request started")
        app.proc.send_signal(signal.SIGTERM)
        app.wait_for("press Ctrl-C to stop at once")
        app.proc.send_signal(signal.SIGTERM)
        assert_stopped(app, "SIGTERM was received")


def test_the_apps_own_way_out_ends_the_supervisor(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        port = app.port()
        child = serving_pid(port)
        assert text(port, "/quit") == (200, "bye")
        assert_stopped(app, "a response asked the app to stop (shut_down)")
        assert not alive(child)
    with reloading(script, tmp_path) as app:
        port = app.port()
        os.kill(serving_pid(port), signal.SIGTERM)          # the app's own signal handling
        assert_stopped(app, "SIGTERM was received")


def test_quitting_when_the_last_page_closes_still_counts_across_a_swap(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path, {"KALI_QUIT_AFTER": "2"}) as app:
        port = app.port()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stream:
            stream.sendall(f"GET /_kali/events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            received = b""
            while b"event: hello" not in received:
                received += stream.recv(4096)
        # The page closed; new code comes in before the linger is over. The new process has seen no
        # page at all: without the old one's count it would wait for one forever.
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        app.wait_for("reloaded in")
        assert_stopped(app, "the last window was closed", 15)


def test_a_second_launch_finds_the_reloading_app(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path) as app:
        url = app.url()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KALI_")}
        env.update(KALI_DATA_DIR=str(tmp_path / "data"), KALI_NO_BROWSER="1", PYTHONPATH=str(ROOT))
        second = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert second.stdout.splitlines()[-1] == f"kali: app is already running at {url}"
        again = subprocess.run([sys.executable, "-m", "kali", "run", "--reload", str(script)], env=env,
                               capture_output=True, text=True, timeout=30)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[-1] == f"kali: app is already running at {url}"
        assert "kali: stopped" not in again.stdout


# -- a reload never opens another window ------------------------------------------------------------------

def test_the_browser_is_opened_once_however_many_swaps(tmp_path: Path) -> None:
    browser, opened = fake_browser(tmp_path)
    script = make_app(tmp_path)
    env: dict[str, str | None] = {"KALI_NO_BROWSER": None, "KALI_WINDOW": "tab", "BROWSER": str(browser)}
    with reloading(script, tmp_path, env) as app:
        port = app.port()
        for version in ("two", "three"):
            save(script, APP.replace('VERSION = "one"', f'VERSION = "{version}"'))
            answers(port, "/", f"version {version}")
        save(script, "broken(")
        app.wait_for("does not start")
        save(script, APP)
        answers(port, "/", "version one")
        wait_until("the browser opened", opened.exists)
        time.sleep(0.5)
        assert opened.read_text().splitlines() == [app.url()]


def test_closing_the_app_window_kali_started_ends_the_run(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    starts = tmp_path / "starts.txt"
    chrome = folder / "google-chrome"
    chrome.write_text(f'#!/bin/sh\necho $$ >> "{starts}"\ntrap "exit 0" TERM\nsleep 300 &\nwait $!\n')
    chrome.chmod(0o755)
    script = make_app(tmp_path)
    env: dict[str, str | None] = {"KALI_NO_BROWSER": None, "DISPLAY": ":99", "WAYLAND_DISPLAY": None,
                                  "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}
    with reloading(script, tmp_path, env) as app:
        port = app.port()
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        answers(port, "/", "version two")
        wait_until("the window started", lambda: starts.exists() and starts.read_text().strip())
        pids = starts.read_text().split()
        assert len(pids) == 1
        time.sleep(5.5)         # a browser that exits within 5 s of its start handed the URL on: no close
        os.kill(int(pids[0]), signal.SIGTERM)
        assert_stopped(app, "the app window was closed", 10)
        assert starts.read_text().split() == pids


# -- the ways in ---------------------------------------------------------------------------------------

def test_kali_reload_makes_serve_http_the_supervisor(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    with reloading(script, tmp_path, {"KALI_RELOAD": "1"}, command=[sys.executable, str(script)]) as app:
        port = app.port()
        save(script, APP.replace('VERSION = "one"', 'VERSION = "two"'))
        answers(port, "/", "version two")
        pids = [int(line.split()[4]) for line in app.out if line.startswith("module code ran in")]
        # The first process ran the module once and became the supervisor; each app process once.
        assert pids[0] == app.proc.pid and len(pids) == 3 and len(set(pids)) == 3
        assert serving_pid(port) == pids[-1]


def test_run_without_reload_runs_the_script_in_this_process(tmp_path: Path) -> None:
    script = make_app(tmp_path)
    command = [sys.executable, "-m", "kali", "run", "--port", "0", "--no-browser", str(script), "x", "--y"]
    with reloading(script, tmp_path, {"KALI_PORT": None}, command=command) as app:
        port = app.port()
        assert serving_pid(port) == app.proc.pid
        assert app.out[0] == f"module code ran in {app.proc.pid} with ['x', '--y']"
        app.proc.send_signal(signal.SIGTERM)
        assert app.wait(5) == 0


def kali_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kali", *args], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_the_command_line_says_how_to_run_an_app() -> None:
    helped = kali_command("--help")
    assert helped.returncode == 0 and "python -m kali run [--reload]" in helped.stdout and "shortcut" in helped.stdout
    assert kali_command("run", "--help").returncode == 0
    for args, message in ((["run"], "which app?"), (["run", "--port", "x", "a.py"], "--port needs a port number"),
                          (["run", "--fast", "a.py"], "unknown option '--fast'"),
                          (["run", "no/such/app.py"], "no such script")):
        result = kali_command(*args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)


def test_demo_sh_reload(tmp_path: Path) -> None:
    demo = ["sh", str(ROOT / "demo.sh"), "intro", "--reload", "--port", "0", "--no-browser"]
    with reloading(ROOT / "examples" / "intro.py", tmp_path, {"KALI_PORT": None}, command=demo,
                   cwd=tmp_path) as app:
        line = app.wait_for("kali: serving ")
        assert line.endswith("(reloading intro.py when its code changes)")
        port = app.port()
        assert "Hello from kali" in text(port)[1]
        app.proc.send_signal(signal.SIGTERM)
        assert app.wait(10) == 0


# -- the app's own serve_http settings -------------------------------------------------------------------

def test_a_private_apps_token_stays_the_same_across_swaps(tmp_path: Path) -> None:
    script = make_app(tmp_path, APP.replace("serve_http(app)", "serve_http(app, private=True)"))
    with reloading(script, tmp_path) as app:
        port = app.port()
        link = app.wait_for("kali: private app: open ")
        token = link.rsplit("kali_token=", 1)[1]
        cookie = {"Cookie": f"kali_private_{port}={token}"}
        assert get(port, "/")[0] == 403
        assert b"version one" in get(port, "/", headers=cookie)[2]
        save(script, APP.replace("serve_http(app)", "serve_http(app, private=True)").replace(
            'VERSION = "one"', 'VERSION = "two"'))
        wait_until("the new code", lambda: b"version two" in get(port, "/", headers=cookie)[2])
        assert get(port, "/")[0] == 403
        assert count(app, "private app: open") == 1


def test_the_supervisor_uses_the_apps_own_name_and_says_when_a_setting_needs_a_new_run(tmp_path: Path) -> None:
    source = APP.replace("serve_http(app)", 'serve_http(app, app_name="notes")')
    script = make_app(tmp_path, source)
    with reloading(script, tmp_path) as app:
        port = app.port()
        record = json.loads((tmp_path / "data" / "notes" / "kali-instance.json").read_text())
        assert record["pid"] == app.proc.pid and record["port"] == port     # the supervisor's record
        save(script, source.replace('app_name="notes"', 'app_name="jotter"').replace('"one"', '"two"'))
        app.wait_for("kali: serve_http's app changed: that takes effect when the app is started again")
        answers(port, "/", "version two")
        assert not (tmp_path / "data" / "jotter").exists()


def test_the_console_names_a_few_changed_files_and_counts_the_rest() -> None:
    assert changed_files(["app.py"]) == "app.py"
    assert changed_files(["a.py", "b.py", "c.py", "d.py"]) == "a.py, b.py, c.py, d.py"
    names = [f"pkg/m{i:03}.py" for i in range(180)]
    assert changed_files(names) == "pkg/m000.py, pkg/m001.py, pkg/m002.py and 177 other files"

"""Browser benchmark: a page with 30 scripts loaded by headless Chromium from kali and from peer servers.

A page that loads 30 small scripts makes Chromium open several connections at once
(and speculative ones it may never use): a server that handles one connection at a
time, or waits on a silent one, shows it here. Each server serves the same folder
(`/` the page, `/static/NN.js` the scripts); every script bumps a counter, and a load
counts only if all 30 ran.

Chromium is /usr/bin/chromium driven by Playwright (bench/.venv) with the flags of
tests/support.py; every load gets a fresh browser context (empty cache, new
connections). One iteration loads the page once from every server, back to back, in
an order reversed every other iteration. The figure is the navigation's loadEventEnd
(ms since navigation start, from the Performance API), median [min-max] (quartiles)
over the iterations, and the per-iteration ratio of kali's time to each peer's; also
the CPU time the server process spent per load (/proc/PID/task/*/schedstat), which
the machine's load disturbs far less than the wall time.

    python bench/browser_page.py [--iterations 15] [--servers http.server,kali-0.0.8,flask,waitress]
    python bench/browser_page.py --baseline-rev main    # also kali at a git revision

Servers: kali (the full default stack: Router + StaticFolder, security wrapper, access
log to a file); http.server (`python -m http.server`, threaded); kali-0.0.8 (its own
loop); flask (its threaded development server); waitress (4 threads, a tiny WSGI app
reading the same files); bottle (wsgiref, one connection at a time: often stalls).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, checkout, cpu_seconds_fine, describe, free_port, reexec_in_venv, spread, stop,  # noqa: E402
                    working_tree_label)

sys.path.insert(0, str(REPO / "tests"))
from support import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

SCRIPTS = 30

KALI = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from kali import serve_http, Router, Response, StaticFolder
folder = Path(sys.argv[2])
page = (folder / "index.html").read_text()
app = Router()
app.delegate_folder("/static/", StaticFolder(folder / "static"))
@app.function("/")
def index():
    return page
sys.stderr = open(sys.argv[3], "w")            # the access log, on as by default
serve_http(app, port=int(sys.argv[4]), start=None)
"""

KALI_008 = """
import logging, sys
logging.disable(logging.CRITICAL)
from pathlib import Path
import kali
folder = Path(sys.argv[2])
page = (folder / "index.html").read_text()
app = kali.Router()
app.delegate_folder("/static/", kali.StaticFolder(str(folder / "static")))
@app.function("/")
def index():
    return page
kali.serve_http(app, port=int(sys.argv[4]), start=None)
"""

WSGI_FILES = """
import mimetypes, sys
from pathlib import Path
folder = Path(sys.argv[2])
def app(environ, start_response):
    path = environ["PATH_INFO"]
    target = folder / ("index.html" if path == "/" else path.lstrip("/"))
    if ".." in path or not target.is_file():
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    body = target.read_bytes()
    start_response("200 OK", [("Content-Type", mimetypes.guess_type(str(target))[0] or "text/html"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""

WAITRESS = WSGI_FILES + """
from waitress import serve
serve(app, host="127.0.0.1", port=int(sys.argv[4]), _quiet=True)
"""

FLASK = """
import logging, sys
from pathlib import Path
logging.getLogger("werkzeug").disabled = True
import flask, flask.cli
flask.cli.show_server_banner = lambda *a, **k: None
folder = Path(sys.argv[2])
app = flask.Flask("bench", static_folder=str(folder / "static"), static_url_path="/static")
page = (folder / "index.html").read_text()
@app.route("/")
def index():
    return page
app.run(host="127.0.0.1", port=int(sys.argv[4]), threaded=True)
"""

BOTTLE = """
import sys
import bottle
folder = sys.argv[2]
@bottle.route("/")
def index():
    return bottle.static_file("index.html", root=folder)
@bottle.route("/static/<name>")
def static(name):
    return bottle.static_file(name, root=folder + "/static")
bottle.run(host="127.0.0.1", port=int(sys.argv[4]), quiet=True)
"""

SERVERS = {"kali": KALI, "kali-0.0.8": KALI_008, "waitress": WAITRESS, "flask": FLASK, "bottle": BOTTLE}


def make_site(folder: Path) -> None:
    """index.html with SCRIPTS script tags, and the scripts (each ~2 KiB, each counts itself)."""
    (folder / "static").mkdir(parents=True)
    filler = "// " + "x" * 70 + "\n"
    for i in range(SCRIPTS):
        (folder / "static" / f"{i:02d}.js").write_text(
            f"// script {i}\n{filler * 25}window.loaded = (window.loaded || 0) + 1;\n")
    tags = "\n".join(f'<script src="/static/{i:02d}.js"></script>' for i in range(SCRIPTS))
    (folder / "index.html").write_text(
        f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>30 scripts</title>\n"
        f"{tags}\n</head>\n<body>\n<p>A page with {SCRIPTS} scripts.</p>\n</body>\n</html>\n")


def start(name: str, source: str, repo: Path, site: Path, log: Path) -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    port = free_port()
    if name == "http.server":
        command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)]
    else:
        command = [sys.executable, "-c", textwrap.dedent(source), str(repo), str(site), str(log), str(port)]
    # A data folder per server: kali and kali@REV run the same script, and one app name
    # would make the second launch join the first instance (and exit) instead of serving.
    env = dict(os.environ, KALI_NO_BROWSER="1", KALI_DATA_DIR=str(site.parent / f"data-{name.replace('@', '_')}"))
    env.pop("KALI_PORT", None)
    # cwd is the temporary folder: `import kali` there finds the checkout only through argv[1].
    proc = subprocess.Popen(command, env=env, cwd=str(site.parent), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    import urllib.request
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "static/00.js", timeout=2) as answer:
                if answer.status == 200:
                    return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{name} did not start")


def load_once(browser, url: str, timeout_ms: int) -> float | None:  # type: ignore[no-untyped-def]
    """ms from navigation start to the end of the load event, or None when it failed or not all scripts ran."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url, wait_until="load", timeout=timeout_ms)
        loaded = page.evaluate("window.loaded")
        if loaded != SCRIPTS:
            return None
        return float(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
    except Exception:          # a timeout or a refused connection: counted as a failed load
        return None
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--servers", default="http.server,kali-0.0.8,flask,waitress",
                        help="peers besides kali (any of http.server, kali-0.0.8, flask, waitress, bottle)")
    parser.add_argument("--baseline-rev", metavar="REV", help="also load the page from kali at git revision REV")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a load counts as failed")
    args = parser.parse_args()
    reexec_in_venv()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kali-browser-bench-")))
        site = tmp / "site"
        make_site(site)
        plan = [("kali", KALI, REPO)] + [(n, SERVERS.get(n, ""), REPO) for n in args.servers.split(",") if n]
        if args.baseline_rev:
            plan.append((f"kali@{args.baseline_rev}", KALI, stack.enter_context(checkout(args.baseline_rev))))
        servers: dict[str, str] = {}
        pids: dict[str, int] = {}
        for name, source, repo in plan:
            if name not in SERVERS and name != "http.server" and not name.startswith("kali@"):
                raise SystemExit(f"unknown server {name!r}")
            proc, url = start(name, source, repo, site, tmp / f"{name}.log")
            stack.callback(stop, proc)
            servers[name] = url
            pids[name] = proc.pid
        print(f"Python {sys.version.split()[0]}; kali = {working_tree_label()}"
              + (f", kali@{args.baseline_rev} = {describe(args.baseline_rev)}" if args.baseline_rev else "")
              + f"; {CHROMIUM}, {args.iterations} iterations, a fresh context per load")
        times: dict[str, list[float | None]] = {name: [] for name in servers}
        cpu: dict[str, list[float]] = {name: [] for name in servers}   # server CPU ms per load
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                for name, url in servers.items():          # one load each, unmeasured: warm caches
                    load_once(browser, url, int(args.timeout * 1000))
                names = list(servers)
                for iteration in range(args.iterations):
                    for name in names if iteration % 2 == 0 else names[::-1]:
                        before = cpu_seconds_fine(pids[name])
                        times[name].append(load_once(browser, servers[name], int(args.timeout * 1000)))
                        cpu[name].append((cpu_seconds_fine(pids[name]) - before) * 1000)
            finally:
                browser.close()
        version = re.sub(r"\s+", " ", subprocess.run([CHROMIUM, "--version"], capture_output=True,
                                                     text=True).stdout.strip())
    print(f"{version}\n\n{'server':<16} {'load ms: median [min-max] (quartiles)':>44}  failed loads   "
          f"server CPU ms per load (schedstat, all threads)")
    for name, series in times.items():
        done = [t for t in series if t is not None]
        text = spread(done, "{:.0f}") if done else "-"
        print(f"{name:<16} {text:>44}  {len(series) - len(done):>12}   {spread(cpu[name], '{:.0f}')}")
    print()
    print("per-iteration ratios of load times (below 1: the first is faster)")
    ours = [name for name in servers if name == "kali" or name.startswith("kali@")]
    for mine in ours:
        for name in servers:
            if name in ours and (mine != "kali" or name == "kali"):
                continue
            pairs = [(a, b) for a, b in zip(times[mine], times[name]) if a is not None and b is not None]
            work = [a / b for a, b in zip(cpu[mine], cpu[name]) if b > 0]
            if pairs:
                print(f"  {mine} / {name}: load time {spread([a / b for a, b in pairs], unit='x')}; "
                      f"server CPU {spread(work, unit='x') if work else '-'}")


if __name__ == "__main__":
    main()

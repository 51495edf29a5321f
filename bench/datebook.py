"""Datebook benchmark: the dashboard of examples/datebook.py under kali against the same page in Flask + Jinja2 under waitress.

Both apps read one SQLite file filled with the datebook's own sample data (the
"Fill it with sample data" button, pressed once on the kali app) on a pinned day,
so both render the same rows; bench/datebook_flask/ holds the Flask app and its
Jinja2 templates, which mirror templates/datebook/. The script checks that the two
pages say the same thing (text with tags, whitespace and CSRF token values removed)
before it measures.

kali runs exactly as `./demo.sh datebook` does: serve_http with its defaults (security
wrapper, access log on stderr, here a file), behind the transaction guard. waitress
runs with its defaults (4 threads). `ab` loads `/` over HTTP/1.0 at each concurrency
level; one iteration is a kali round and a Flask round back to back (order swapped
every other iteration), and the figure is the median of the per-iteration ratios
with [min-max] and (quartiles). CPU per request is the server process's utime+stime
from /proc/PID/stat (all threads) over the round.

    python bench/datebook.py [--iterations 10] [--requests 2000] [--concurrency 1,8]
    python bench/datebook.py --baseline-rev main     # also the kali app at a git revision

The first run creates bench/.venv (flask, jinja2, waitress, ...) and re-runs itself there.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (HERE, REPO, checkout, cpu_seconds, describe, free_port, reexec_in_venv, spread,  # noqa: E402
                    stop, working_tree_label)

PINNED_DAY = "2025-06-03"      # a Tuesday; the sample data is placed around it


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)


def kali_datebook(repo: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    # A data folder per kali server: kali and kali@REV both run examples/datebook.py, and one
    # app name would make the second launch join the first instance (and exit).
    env = dict(env, KALI_DATA_DIR=str(log.parent / f"data-{log.stem}"))
    proc = start([sys.executable, str(repo / "examples" / "datebook.py")], env, log)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("kali: serving "):
            return proc, int(line.rsplit(":", 1)[1].strip().strip("/"))
    stop(proc)
    raise SystemExit(f"the datebook did not start; see {log}")


def flask_datebook(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    port = free_port()
    proc = start([sys.executable, str(HERE / "datebook_flask" / "app.py"), str(port)], env, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            get(port, "/")
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    stop(proc)
    raise SystemExit(f"the Flask datebook did not start; see {log}")


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return answer.read().decode("utf-8")


def fill_with_sample_data(port: int) -> None:
    """Press the empty dashboard's 'Fill it with sample data' button (a POST with its CSRF token)."""
    page = get(port, "/")
    form = re.search(r'<form method="post" action="/sample">(.*?)</form>', page, re.S)
    if not form:
        raise SystemExit("the datebook is not empty: expected its 'sample data' button")
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)))
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/sample", data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        if answer.status != 200:
            raise SystemExit(f"POST /sample answered {answer.status}")


def visible_text(page: str) -> str:
    """What a reader sees of a page, for comparing two implementations of it."""
    page = re.sub(r'name="(csrf|_csrf|csrf_token|_kali_csrf)[^"]*" value="[^"]*"', "", page)
    page = re.sub(r"<[^>]+>", " ", page)
    return " ".join(html.unescape(page).split())


def load_ab(port: int, requests: int, concurrency: int) -> float | None:
    out = subprocess.run(["ab", "-q", "-n", str(requests), "-c", str(concurrency), f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, timeout=600).stdout
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    rps = re.search(r"Requests per second:\s+([\d.]+)", out)
    # Failed requests here counts length changes too; the pages' length is constant.
    if not rps or (failed and int(failed.group(1)) > 0) or "Non-2xx responses" in out:
        return None
    return float(rps.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round (default 2000)")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--baseline-rev", metavar="REV", help="also run the kali datebook at git revision REV")
    args = parser.parse_args()
    reexec_in_venv()
    levels = [int(c) for c in args.concurrency.split(",")]

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kali-datebook-bench-")))
        env = dict(os.environ, KALI_NO_BROWSER="1", KALI_PORT="0", PYTHONUNBUFFERED="1",
                   KALI_DATEBOOK_DB=str(tmp / "datebook.sqlite3"), KALI_DATEBOOK_TODAY=PINNED_DAY)
        servers: dict[str, tuple[subprocess.Popen, int]] = {}   # type: ignore[type-arg]
        servers["kali"] = kali_datebook(REPO, env, tmp / "kali.log")
        stack.callback(stop, servers["kali"][0])
        fill_with_sample_data(servers["kali"][1])
        servers["flask"] = flask_datebook(env, tmp / "flask.log")
        stack.callback(stop, servers["flask"][0])
        if args.baseline_rev:
            tree = stack.enter_context(checkout(args.baseline_rev))
            name = f"kali@{args.baseline_rev}"
            servers[name] = kali_datebook(tree, env, tmp / "kali-rev.log")
            stack.callback(stop, servers[name][0])

        pages = {name: get(port, "/") for name, (_, port) in servers.items()}
        reference = visible_text(pages["kali"])
        for name, page in pages.items():
            if visible_text(page) != reference:
                raise SystemExit(f"the {name} dashboard differs from kali's:\n{visible_text(page)}\n---\n{reference}")
        from importlib.metadata import version
        print(f"Python {sys.version.split()[0]}; kali = {working_tree_label()}"
              + (f", kali@{args.baseline_rev} = {describe(args.baseline_rev)}" if args.baseline_rev else "")
              + f"; Flask {version('flask')} + Jinja2 {version('jinja2')} under waitress {version('waitress')}")
        print(f"dashboard: {len(pages['kali'].encode())} bytes (kali), {len(pages['flask'].encode())} bytes (Flask), "
              f"same visible text; {args.iterations} iterations x {args.requests} requests per server and level")

        names = list(servers)
        rows: dict[tuple[str, int], list[tuple[float, float] | None]] = {}
        for iteration in range(args.iterations):
            order = names if iteration % 2 == 0 else names[::-1]
            for level in levels:
                for name in order:
                    proc, port = servers[name]
                    user0, sys0 = cpu_seconds(proc.pid)
                    rps = load_ab(port, args.requests, level)
                    user1, sys1 = cpu_seconds(proc.pid)
                    cpu = (user1 - user0 + sys1 - sys0) / args.requests
                    rows.setdefault((name, level), []).append(None if rps is None else (rps, cpu))
            print(f"  iteration {iteration + 1}/{args.iterations} done", file=sys.stderr, flush=True)

    for level in levels:
        print(f"\n== -c{level}: median [min-max] (quartiles) over the iterations")
        for name in names:
            cells = [c for c in rows[(name, level)] if c is not None]
            if not cells:
                print(f"  {name:<14} failed")
                continue
            print(f"  {name:<14} req/s {spread([c[0] for c in cells], '{:,.0f}'):>32}   CPU µs/request "
                  f"{spread([c[1] * 1e6 for c in cells], '{:.0f}')}")
        comparisons = [(name, "flask") for name in names if name != "flask"]
        comparisons += [("kali", name) for name in names if name.startswith("kali@")]
        for a_name, b_name in comparisons:
            pairs = [(a, b) for a, b in zip(rows[(a_name, level)], rows[(b_name, level)]) if a and b]
            print(f"  {a_name} / {b_name}: req/s {spread([a[0] / b[0] for a, b in pairs], unit='x')}; "
                  f"CPU per request {spread([a[1] / b[1] for a, b in pairs], unit='x')}")


if __name__ == "__main__":
    main()

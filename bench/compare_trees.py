"""The same kali app served from two source trees, measured in interleaved rounds: did a change cost speed?

For a refactoring that must not slow the server down: start the benchmark app
from a baseline checkout and from the candidate tree (both processes stay up),
then load them in turn with `ab` (HTTP/1.0, a new connection per request),
alternating which goes first, and report for each app and concurrency

- the median ratio of requests per second (candidate / baseline) over the
  pairs, with min-max and quartiles;
- each server's CPU time per request (user + system, from /proc/PID/stat),
  which is steadier than req/s on a noisy machine, and their ratio.

    git worktree add --detach /tmp/kali-base main
    python bench/compare_trees.py --base /tmp/kali-base            # candidate: this checkout
    python bench/compare_trees.py --base /tmp/kali-base --pairs 20 --requests 20000 --concurrency 1

Apps (as in bench/server.py):
  kali        serve_http defaults (security wrapper, access log to a file) around a Router
  kali-bare   serve_http(secure=False, access_log=False) around a plain function
Needs Linux (/proc) and ab (apache2-utils).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

APPS = {
    "kali": """
        import sys
        sys.path.insert(0, {tree!r})
        from kali import serve_http
        from kali.routing import Router
        app = Router()
        @app.function("/hello")
        def hello():
            return "Hello, world!"
        sys.stderr = open({log!r}, "w")
        serve_http(app, port=0, start=None)
    """,
    "kali-bare": """
        import sys
        sys.path.insert(0, {tree!r})
        from kali import serve_http
        def hello(request):
            return "Hello, world!"
        sys.stderr = open({log!r}, "w")
        serve_http(hello, port=0, start=None, secure=False, access_log=False)
    """,
}
PATHS = {"kali": "/hello", "kali-bare": "/hello"}
TICKS = os.sysconf("SC_CLK_TCK")


class Served:
    """One app served from one tree, as a child process."""

    def __init__(self, app: str, tree: Path, workdir: Path, label: str) -> None:
        script = workdir / f"{label}-{app}.py"
        log = workdir / f"{label}-{app}.log"
        script.write_text(textwrap.dedent(APPS[app]).format(tree=str(tree), log=str(log)))
        self.proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                                     cwd=str(workdir))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"serving (http://\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"{label} {app} did not start: {line!r}")
        self.url = match.group(1).rstrip("/") + PATHS[app]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def load(url: str, requests: int, concurrency: int) -> float:
    """Requests per second `ab` measured; an error if any request failed."""
    done = subprocess.run(["ab", "-q", "-n", str(requests), "-c", str(concurrency), url],
                          capture_output=True, text=True, timeout=600)
    out = done.stdout
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    rps = re.search(r"Requests per second:\s+([\d.]+)", out)
    if done.returncode or not rps or (failed and int(failed.group(1))) or non_2xx:
        raise RuntimeError(f"ab failed on {url}:\n{out}\n{done.stderr}")
    return float(rps.group(1))


def round_on(server: Served, requests: int, concurrency: int) -> tuple[float, float]:
    """(requests per second, CPU microseconds per request) for one round."""
    before = server.cpu_seconds()
    rps = load(server.url, requests, concurrency)
    cpu = server.cpu_seconds() - before
    return rps, cpu / requests * 1e6


def spread(values: list[float], digits: int = 2) -> str:
    """'median [min-max] (q1-q3)' of the values."""
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    f = f"{{:.{digits}f}}"
    return (f"{f.format(median)} [{f.format(min(values))}-{f.format(max(values))}] "
            f"(quartiles {f.format(q1)}-{f.format(q3)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, type=Path, help="the baseline source tree (e.g. a checkout of main)")
    parser.add_argument("--candidate", type=Path, default=REPO, help="the tree under test (default: this checkout)")
    parser.add_argument("--pairs", type=int, default=10, help="interleaved rounds per tree (at least 10)")
    parser.add_argument("--requests", type=int, default=10000, help="requests per round")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated ab -c values")
    parser.add_argument("--apps", default="kali,kali-bare", help="comma-separated: " + ", ".join(APPS))
    args = parser.parse_args()
    if shutil.which("ab") is None:
        sys.exit("compare_trees needs ab (apache2-utils)")
    if args.pairs < 10:
        sys.exit("a figure is the median of at least 10 pairs: --pairs 10 or more")
    for tree in (args.base, args.candidate):
        if not (tree / "kali" / "server.py").is_file():
            sys.exit(f"{tree} is not a kali source tree")
    print(f"baseline  {args.base.resolve()}\ncandidate {args.candidate.resolve()}\n"
          f"{args.pairs} pairs x {args.requests} requests, ab (HTTP/1.0, a connection per request)\n")
    workdir = Path(tempfile.mkdtemp(prefix="kali-compare-"))
    try:
        for app in args.apps.split(","):
            served = {label: Served(app, tree, workdir, label)
                      for label, tree in (("base", args.base), ("candidate", args.candidate))}
            try:
                for server in served.values():
                    load(server.url, 1000, 1)            # warm up: imports, first-use caches
                for concurrency in (int(c) for c in args.concurrency.split(",")):
                    results: dict[str, list[tuple[float, float]]] = {"base": [], "candidate": []}
                    for pair in range(args.pairs):
                        # Alternate who goes first, so a drift of the machine does not favour one side.
                        order = ("candidate", "base") if pair % 2 == 0 else ("base", "candidate")
                        for label in order:
                            results[label].append(round_on(served[label], args.requests, concurrency))
                    ratios = [c[0] / b[0] for c, b in zip(results["candidate"], results["base"])]
                    cpu_ratios = [c[1] / b[1] for c, b in zip(results["candidate"], results["base"])]
                    print(f"{app}, -c {concurrency}:")
                    for label in ("base", "candidate"):
                        print(f"  {label:9}  req/s {spread([r[0] for r in results[label]], 0)}"
                              f"   CPU us/request {spread([r[1] for r in results[label]], 1)}")
                    print(f"  candidate/base  req/s {spread(ratios, 3)}   CPU/request {spread(cpu_ratios, 3)}\n",
                          flush=True)
            finally:
                for server in served.values():
                    server.stop()
                time.sleep(0.2)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

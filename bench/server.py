"""Server benchmark: kali's loop against a raw socket loop (and, on request, other servers or kali at a git revision).

Every server runs as its own process on a free loopback port. `ab` (HTTP/1.0, one
connection per request) loads each in turn; one *iteration* is one round of every
server, back to back, for each concurrency level and request shape, and the order
is reversed every other iteration so a drifting machine favours nobody. A figure
is the MEDIAN over the iterations, printed with [min-max] and (quartiles); a ratio
is computed within each iteration (say kali's round / the raw loop's round next to
it) and then summarised, never "best round over best round".

Besides requests per second it reports the CPU time the *server process* used per
request (utime + stime from /proc/PID/stat, read before and after each round),
which is much steadier than req/s on a small shared VM.

    python bench/server.py                          # kali vs the raw loop, 10 iterations
    python bench/server.py --servers kali,kali-bare,http.server --iterations 12
    python bench/server.py --baseline-rev main      # the working tree's kali vs kali at `main`, same run
    python bench/server.py --candidate-rev HEAD~3 --baseline-rev main
    python bench/server.py --setup                  # only create bench/.venv (bottle, flask, kali 0.0.8...)

Request shapes (--shapes): `ab` is ab's own 3-header GET; `browser` adds the 16
headers Chromium sends with a navigation (cookie, sec-ch-ua, sec-fetch-*, ...).

Servers (--servers; `raw` is always measured):
  raw         a blocking accept/recv/sendall/close loop with a canned response: the ceiling
  kali        the full stack: serve_http defaults (security wrapper, access log to a file)
              around a Router with @app.function('/hello')
  kali-bare   serve_http(secure=False, access_log=False) around a plain function
  floor       a hand-written epoll loop with kali's hot-path features and nothing else (Host check,
              route table, protective headers, batched access log): the least Python they need
  http.server the standard library's HTTPServer + BaseHTTPRequestHandler (logging off)
  kali-0.0.8, bottle, flask   their own dev servers (run under bench/.venv)
  kali@REV    added by --baseline-rev REV: the `kali` app with kali from a `git worktree` at REV
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, checkout, cpu_seconds, describe, in_venv, reexec_in_venv, spread,  # noqa: E402
                    summary, working_tree_label)

SERVERS: dict[str, str] = {
    "raw": """
        import socket, sys
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0)); s.listen(128)
        print("PORT", s.getsockname()[1], flush=True)
        body = b"Hello, world!"
        reply = (b"HTTP/1.0 200 OK\\r\\nContent-Type: text/html; charset=utf-8\\r\\n"
                 b"Content-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body)) + body
        while True:
            c, _ = s.accept()
            data = c.recv(65536)
            while b"\\r\\n\\r\\n" not in data:
                more = c.recv(65536)
                if not more:
                    break
                data += more
            try:
                c.sendall(reply)
            except OSError:
                pass
            c.close()
    """,
    "kali": """
        import sys
        sys.path.insert(0, {repo!r})
        from kali import serve_http
        from kali.routing import Router
        app = Router()
        @app.function("/hello")
        def hello():
            return "Hello, world!"
        # Defaults throughout: the security wrapper, and the access log on stderr (a file here).
        sys.stderr = open({log!r}, "w")
        serve_http(app, port=0, start=None)
    """,
    "kali-bare": """
        import sys
        sys.path.insert(0, {repo!r})
        from kali import serve_http
        def hello(request):
            return "Hello, world!"
        serve_http(hello, port=0, start=None, secure=False, access_log=False)
    """,
    # The least Python a loop with kali's hot-path features needs, written by hand for this
    # benchmark alone: non-blocking (epoll, accept in bursts under load, a first-packet timeout),
    # the head checked by one regex, the Host allow-list, a route table, protective headers, a
    # Date line, the access log written in batches. What it leaves out is what kali does beyond
    # that (a Request object, wrappers, responses the handler may shape, errors, bodies, a head in
    # several packets -- refused here, there is no general path).
    "floor": """
        import re, select, socket, sys, time
        sys.stderr = open({log!r}, "w")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0)); s.listen(128); s.setblocking(False)
        port = s.getsockname()[1]
        print("PORT", port, flush=True)
        HEAD = re.compile("([!#$%&'*+.^_`|~0-9A-Za-z-]{{1,20}}) (/[\\x21-\\x7e]*) (HTTP/1[.][01])\\r\\n"
                          "(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\\t\\x20-\\x7e\\x80-\\xff]*\\r\\n)*\\r\\n")
        HOSTS = {{f"{{h}}:{{port}}" for h in ("127.0.0.1", "localhost", "[::1]")}}
        def hello():
            return "Hello, world!"
        ROUTES = {{"/hello": hello}}
        PROTECT = (b"X-Content-Type-Options: nosniff\\r\\nX-Frame-Options: DENY\\r\\n"
                   b"Referrer-Policy: same-origin\\r\\nCache-Control: no-store\\r\\n")
        REFUSED = b"HTTP/1.0 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n"
        dates = [0, b""]
        log = []
        log_due = [0.0]
        waiting = {{}}
        ep = select.epoll()
        ep.register(s.fileno(), select.EPOLLIN)
        DONTWAIT = socket.MSG_DONTWAIT
        def answer(c, data, started):
            if not data:
                c.close()
                return
            m = HEAD.fullmatch(data.decode("latin-1"))
            reply = REFUSED
            method = target = "-"
            code = 400
            if m is not None:
                method, target, version = m.groups()
                fields = m.group(0)[m.end(3):].lower()
                at = fields.find("\\r\\nhost:")
                host = fields[at + 7:fields.find("\\r\\n", at + 7)].strip(" \\t") if at >= 0 else None
                if "\\r\\ncontent-length:" in fields or "\\r\\ntransfer-encoding:" in fields:
                    pass
                elif host is not None and host not in HOSTS:
                    code, reply = 421, REFUSED.replace(b"400 Bad Request", b"421 Misdirected Request")
                else:
                    route = ROUTES.get(target.partition("?")[0])
                    if route is None:
                        code, reply = 404, REFUSED.replace(b"400 Bad Request", b"404 Not Found")
                    else:
                        body = route().encode("utf-8")
                        now = int(time.time())
                        if now != dates[0]:
                            dates[0] = now
                            dates[1] = ("Date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
                                        + "\\r\\nServer: floor\\r\\n").encode()
                        code = 200
                        reply = b"".join((b"HTTP/1.0 200 OK\\r\\n", dates[1],
                                          b"Content-Type: text/html; charset=utf-8\\r\\n", PROTECT,
                                          b"Content-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body), body))
            try:
                sent = c.send(reply, DONTWAIT)
            except OSError:
                sent = 0
            c.close()
            if not log:
                log_due[0] = time.monotonic() + 0.05
            log.append((method, target, code, sent, (time.perf_counter() - started) * 1000.0))
        def flush():
            clock = time.strftime("%H:%M:%S ")
            sys.stderr.write("".join([clock + "%s %s %d %d %.1fms\\n" % line for line in log]))
            sys.stderr.flush()
            log.clear()
        while True:
            timeout = -1
            if log:
                timeout = max(0.0, log_due[0] - time.monotonic())
            if waiting:
                timeout = 0.05 if timeout < 0 else min(timeout, 0.05)
            for fd, ev in ep.poll(timeout):
                if fd == s.fileno():
                    for _ in range(16):
                        try:
                            c, _ = s.accept()
                        except BlockingIOError:
                            break
                        try:
                            data = c.recv(65536, DONTWAIT)
                        except BlockingIOError:
                            waiting[c.fileno()] = (c, time.monotonic() + 1.0)
                            ep.register(c.fileno(), select.EPOLLIN)
                            continue
                        answer(c, data, time.perf_counter())
                else:
                    c, _ = waiting.pop(fd)
                    ep.unregister(fd)
                    try:
                        data = c.recv(65536, DONTWAIT)
                    except OSError:
                        data = b""
                    answer(c, data, time.perf_counter())
            now = time.monotonic()
            for fd, (c, by) in list(waiting.items()):
                if by <= now:
                    del waiting[fd]
                    ep.unregister(fd)
                    c.close()
            if log and log_due[0] <= now:
                flush()
    """,
    "http.server": """
        from http.server import HTTPServer, BaseHTTPRequestHandler
        class Hello(BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"Hello, world!"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        server = HTTPServer(("127.0.0.1", 0), Hello)
        print("PORT", server.server_address[1], flush=True)
        server.serve_forever()
    """,
    "kali-0.0.8": """
        import socket, sys, logging
        logging.disable(logging.CRITICAL)
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        import kali
        app = kali.Router()
        @app.function("/hello")
        def hello():
            return "Hello, world!"
        print("PORT", port, flush=True)
        kali.serve_http(app, port=port, start=None)
    """,
    "bottle": """
        import socket, sys
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        import bottle
        @bottle.route("/hello")
        def hello():
            return "Hello, world!"
        print("PORT", port, flush=True)
        bottle.run(host="127.0.0.1", port=port, quiet=True)
    """,
    "flask": """
        import socket, sys, logging
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        logging.getLogger("werkzeug").disabled = True
        import flask, flask.cli
        flask.cli.show_server_banner = lambda *a, **k: None
        app = flask.Flask("bench")
        @app.route("/hello")
        def hello():
            return "Hello, world!"
        print("PORT", port, flush=True)
        app.run(host="127.0.0.1", port=port, threaded=False)
    """,
}
NEEDS_VENV = {"kali-0.0.8", "bottle", "flask"}

#: What Chromium 12x sends with a typed-in navigation, minus Host (ab adds it) and with
#: Connection: close (one request per connection, like ab's own shape): 16 headers in all.
BROWSER_HEADERS = [
    "Connection: close",
    'sec-ch-ua: "Chromium";v="126", "Not.A/Brand";v="24", "Google Chrome";v="126"',
    "sec-ch-ua-mobile: ?0",
    'sec-ch-ua-platform: "Linux"',
    "Upgrade-Insecure-Requests: 1",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7",
    "Sec-Fetch-Site: none",
    "Sec-Fetch-Mode: navigate",
    "Sec-Fetch-User: ?1",
    "Sec-Fetch-Dest: document",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8,fr;q=0.7",
    "Cookie: theme=dark; session_hint=4f1c2a9b7e3d; _ga=GA1.1.123456789.1700000000",
    "Cache-Control: max-age=0",
]
SHAPES = {"ab": [], "browser": BROWSER_HEADERS}


class Running:
    """One benchmark server process."""

    def __init__(self, name: str, template: str, repo: Path, python: str, workdir: str) -> None:
        self.name = name
        log = os.path.join(workdir, f"{name.replace('/', '_')}.log")
        source = textwrap.dedent(SERVERS[template]).format(repo=str(repo), log=log)
        # .pyc files are written and used as usual: a server starts once per run, so compiling
        # costs start-up only, never a measured round (bench/import_time.py measures start-up).
        # Each server gets its own data folder: two kali apps made from the same script
        # (kali and kali@REV) would otherwise be one app to the single-instance check, and
        # the second launch would join the first and exit.
        data = os.path.join(workdir, f"data-{name.replace('/', '_').replace('@', '_')}")
        env = dict(os.environ, KALI_NO_BROWSER="1", KALI_DATA_DIR=data)
        env.pop("KALI_PORT", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.proc = subprocess.Popen([python, "-c", source], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env, cwd=workdir)
        self.port = self._read_port()
        self.path = "/" if template == "raw" else "/hello"
        self._wait_ready()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"(?:PORT |127\.0\.0\.1:)(\d+)", line)
            if m:
                return int(m.group(1))
        raise RuntimeError(f"{self.name} did not start")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if fetch(self.port, self.path, timeout=2)[0] == 200:
                    # Every shape must be answered 200, or a refusal would pass for speed.
                    status = fetch(self.port, self.path, BROWSER_HEADERS, timeout=2)[0]
                    if status != 200:
                        raise RuntimeError(f"{self.name} answers browser-shaped requests with {status}")
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} does not answer {self.path}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def fetch(port: int, path: str, headers: list[str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """One HTTP/1.0 GET; (status, body)."""
    lines = [f"GET {path} HTTP/1.0", f"Host: 127.0.0.1:{port}", *(headers or [])]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# -- load generation -----------------------------------------------------------------------

def load_ab(url: str, requests: int, concurrency: int, headers: list[str]) -> float | None:
    """Requests per second by `ab`, or None when more than 1% failed or any answer was not 2xx."""
    command = ["ab", "-q", "-n", str(requests), "-c", str(concurrency)]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run([*command, url], capture_output=True, text=True, timeout=600).stdout
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    rps = re.search(r"Requests per second:\s+([\d.]+)", out)
    if not rps or (failed and int(failed.group(1)) > requests // 100) or "Non-2xx responses" in out:
        return None
    return float(rps.group(1))


def load_python(url: str, requests: int, concurrency: int, headers: list[str]) -> float | None:
    """The same load from Python threads, when ab is not installed (slower: it shares the CPU)."""
    port = int(url.split(":")[2].split("/")[0])
    path = "/" + url.split("/", 3)[3]
    lines = [f"GET {path} HTTP/1.0", f"Host: 127.0.0.1:{port}", *headers]
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    per_thread = requests // concurrency
    errors = []

    def worker() -> None:
        for _ in range(per_thread):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(payload)
                    while sock.recv(65536):
                        pass
            except OSError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return None if len(errors) > requests // 100 else per_thread * concurrency / elapsed


# -- stalls ------------------------------------------------------------------------------------

def median_latency(port: int, path: str, n: int = 15, timeout: float = 2.0) -> float:
    """Median wall time of n GETs; a GET that times out counts as `timeout` and ends the series
    (a server that stalls once behind a silent socket stalls every time)."""
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            fetch(port, path, timeout=timeout)
        except OSError:
            return timeout
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return samples[len(samples) // 2]


def stall_added(server: Running, kind: str) -> float:
    """Median latency of a normal GET while a silent or slow socket is open, minus without it."""
    base = median_latency(server.port, server.path)
    holder = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    stop = threading.Event()

    def trickle() -> None:
        request = f"GET {server.path} HTTP/1.0\r\nX-Slow: {'s' * 200}\r\n\r\n".encode()
        for byte in request:
            if stop.is_set():
                return
            try:
                holder.send(bytes([byte]))
            except OSError:
                return
            time.sleep(0.005)

    thread = None
    if kind == "slow":
        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
    time.sleep(0.02)
    try:
        loaded = median_latency(server.port, server.path)
    finally:
        stop.set()
        holder.close()
        if thread:
            thread.join(2)
    return max(0.0, loaded - base)


# -- one run ----------------------------------------------------------------------------------------

Key = tuple[str, int, str]        # (server, concurrency, shape)


def measure(servers: dict[str, Running], load, args, levels: list[int], shapes: list[str]):  # type: ignore[no-untyped-def]
    """Run the iterations; returns per (server, level, shape) lists of (req/s, cpu s/req, user s/req) by iteration."""
    results: dict[Key, list[tuple[float, float, float] | None]] = {}
    names = list(servers)
    for iteration in range(args.iterations):
        order = names if iteration % 2 == 0 else names[::-1]
        for level in levels:
            for shape in shapes:
                for name in order:
                    server = servers[name]
                    user0, sys0 = cpu_seconds(server.proc.pid)
                    rps = load(server.url, args.requests, level, SHAPES[shape])
                    user1, sys1 = cpu_seconds(server.proc.pid)
                    cell = None
                    if rps is not None:
                        per = args.requests
                        cell = (rps, (user1 - user0 + sys1 - sys0) / per, (user1 - user0) / per)
                    results.setdefault((name, level, shape), []).append(cell)
        print(f"  iteration {iteration + 1}/{args.iterations} done", file=sys.stderr, flush=True)
    return results


def ratios(results: dict[Key, list], a: str, b: str, level: int, shape: str, index: int) -> list[float]:
    """Per-iteration ratios of server a's figure to server b's (iterations where both rounds succeeded)."""
    pairs = zip(results.get((a, level, shape), []), results.get((b, level, shape), []))
    return [x[index] / y[index] for x, y in pairs if x is not None and y is not None and y[index] > 0]


def report(results: dict[Key, list], names: list[str], levels: list[int], shapes: list[str],
           comparisons: list[tuple[str, str]]) -> None:
    for shape in shapes:
        for level in levels:
            header = "ab's 3 headers" if shape == "ab" else f"{len(BROWSER_HEADERS) + 1} browser headers"
            print(f"\n== -c{level}, {header}  (median [min-max] (quartiles) of the iterations)")
            print(f"  {'server':<16}{'req/s':>34}   {'CPU µs per request (user)':>40}")
            for name in names:
                cells = [c for c in results.get((name, level, shape), []) if c is not None]
                failed = len(results.get((name, level, shape), [])) - len(cells)
                if not cells:
                    print(f"  {name:<16}{'failed':>34}")
                    continue
                rps = spread([c[0] for c in cells], "{:,.0f}")
                cpu = spread([c[1] * 1e6 for c in cells], "{:.0f}")
                user = summary([c[2] * 1e6 for c in cells])["median"]
                note = f"  ({failed} rounds failed)" if failed else ""
                print(f"  {name:<16}{rps:>34}   {cpu:>32} user {user:.0f}{note}")
            for a, b in comparisons:
                speed = ratios(results, a, b, level, shape, 0)
                cpu = ratios(results, a, b, level, shape, 1)
                if speed:
                    # No CPU ratio when the baseline's process used no measurable CPU (it was not the server).
                    cpu_text = spread(cpu, unit='x') if cpu else "n/a"
                    print(f"  {a} / {b}: req/s {spread(speed, unit='x')};  CPU per request {cpu_text}")


def stall_text(seconds: float) -> str:
    return "stalled (>2 s)" if seconds >= 1.9 else f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10000, help="requests per round (default 10000)")
    parser.add_argument("--iterations", type=int, default=10, help="interleaved iterations (default 10, at least 10 "
                                                                   "for a figure worth quoting)")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated ab -c levels (default 1,8)")
    parser.add_argument("--shapes", default="ab,browser", help="comma-separated request shapes: ab, browser")
    parser.add_argument("--tool", choices=["ab", "python"], default=None)
    parser.add_argument("--servers", default="kali", help="comma-separated servers besides raw (default: kali); "
                                                          "any of: " + ", ".join(s for s in SERVERS if s != "raw"))
    parser.add_argument("--baseline-rev", metavar="REV", help="also run the kali app with kali at git revision REV, "
                                                              "and compare the candidate with it")
    parser.add_argument("--candidate-rev", metavar="REV", help="the candidate `kali` from git revision REV instead "
                                                               "of the working tree")
    parser.add_argument("--no-stalls", action="store_true", help="skip the silent/slow socket latency checks")
    parser.add_argument("--setup", action="store_true", help="only create bench/.venv")
    parser.add_argument("--no-venv", action="store_true", help=argparse.SUPPRESS)  # old command lines: the
    # default run (kali and raw) never needed the venv; only the peers listed in NEEDS_VENV do
    args = parser.parse_args()

    names = ["raw"] + [n for n in args.servers.split(",") if n and n != "raw"]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")
    if args.setup or NEEDS_VENV & set(names):
        reexec_in_venv()
    if args.setup:
        return
    tool = args.tool or ("ab" if shutil.which("ab") else "python")
    load = {"ab": load_ab, "python": load_python}[tool]
    levels = [int(c) for c in args.concurrency.split(",")]
    shapes = args.shapes.split(",")
    if any(s not in SHAPES for s in shapes):
        parser.error(f"--shapes takes {', '.join(SHAPES)}")

    with ExitStack() as stack:
        workdir = tempfile.mkdtemp(prefix="kali-bench-")
        stack.callback(shutil.rmtree, workdir, True)
        candidate_repo, candidate_label = REPO, working_tree_label()
        if args.candidate_rev:
            candidate_repo = stack.enter_context(checkout(args.candidate_rev))
            candidate_label = describe(args.candidate_rev)
        plan: list[tuple[str, str, Path]] = [(n, n, candidate_repo) for n in names]
        comparisons = [(n, "raw") for n in names if n != "raw"]
        if "kali" in names and "floor" in names:
            comparisons.append(("kali", "floor"))   # what kali costs beyond the least its features need
        baseline = None
        if args.baseline_rev:
            baseline = f"kali@{args.baseline_rev}"
            plan.append((baseline, "kali", stack.enter_context(checkout(args.baseline_rev))))
            comparisons += [(baseline, "raw")]
            if "kali" in names:
                comparisons.insert(0, ("kali", baseline))
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load tool: {tool}, HTTP/1.0, "
              f"{args.iterations} iterations x {args.requests} requests per server, level and shape")
        print(f"kali = {candidate_label}" + (f"; {baseline} = {describe(args.baseline_rev)}" if baseline else ""))

        servers: dict[str, Running] = {}
        for name, template, repo in plan:
            try:
                servers[name] = Running(name, template, repo, sys.executable, workdir)
            except RuntimeError as exc:
                print(f"  {name}: skipped ({exc})")
        for server in servers.values():
            stack.callback(server.stop)
        results = measure(servers, load, args, levels, shapes)
        report(results, list(servers), levels, shapes, [c for c in comparisons if set(c) <= set(servers)])

        if not args.no_stalls:
            print("\nAdded latency of a normal GET (median of 15) while another socket is silent or slow:")
            print(f"  {'server':<16}{'silent socket':>16}{'byte-at-a-time':>18}")
            for name, server in servers.items():
                silent = stall_added(server, "silent")
                slow = stall_added(server, "slow")
                print(f"  {name:<16}{stall_text(silent):>16}{stall_text(slow):>18}")


if __name__ == "__main__":
    main()

"""Server benchmark: kali's loop against a raw socket loop, http.server and other dev servers.

Starts each server as its own process on a free loopback port, loads each in turn
(interleaved rounds, best round kept) with `ab` (or `wrk`, or a Python client when
neither is installed), and prints requests per second and the ratio to the raw loop
measured in the same run. Then it measures how much a silent connection and a
byte-at-a-time client delay a normal request on each server.

    python bench/server.py                      # everything available
    python bench/server.py --requests 5000 --rounds 3 --concurrency 1,8
    python bench/server.py --setup              # only create bench/.venv (bottle, flask, kali 0.0.8)

Servers:
  raw         a blocking accept/recv/sendall/close loop with a canned response: the ceiling
  kali        the full stack: serve_http defaults (security wrapper, access log to a file)
              around a Router with @app.function('/hello')
  kali-bare   serve_http(secure=False, access_log=False) around a plain function
  http.server the standard library's HTTPServer + BaseHTTPRequestHandler (logging off)
  kali-0.0.8, bottle, flask   their own dev servers (only when bench/.venv has them)
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
VENV_PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
COMPARISON = ["bottle", "flask", "kali==0.0.8"]

BODY = "Hello, world!"

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
        import sys, logging
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
OPTIONAL = {"kali-0.0.8": "kali", "bottle": "bottle", "flask": "flask"}


class Running:
    """One benchmark server process."""

    def __init__(self, name: str, python: str, workdir: str) -> None:
        self.name = name
        log = os.path.join(workdir, f"{name}.log")
        source = textwrap.dedent(SERVERS[name]).format(repo=str(REPO), log=log)
        env = dict(os.environ, KALI_NO_BROWSER="1", PYTHONDONTWRITEBYTECODE="1")
        env.pop("KALI_PORT", None)
        self.proc = subprocess.Popen([python, "-c", source], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env, cwd=workdir)
        self.port = self._read_port()
        self.path = "/" if name == "raw" else "/hello"
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
                status = fetch(self.port, self.path, timeout=2)[0]
                if status == 200:
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


def fetch(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One HTTP/1.0 GET; (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# -- load generation -----------------------------------------------------------------------

def load_ab(url: str, requests: int, concurrency: int) -> float | None:
    out = subprocess.run(["ab", "-q", "-n", str(requests), "-c", str(concurrency), url],
                         capture_output=True, text=True, timeout=300).stdout
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    rps = re.search(r"Requests per second:\s+([\d.]+)", out)
    if not rps or (failed and int(failed.group(1)) > requests // 100):
        return None
    return float(rps.group(1))


def load_wrk(url: str, requests: int, concurrency: int) -> float | None:
    seconds = max(2, requests // 4000)
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-H", "Connection: close", url],
                         capture_output=True, text=True, timeout=300).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(rps.group(1)) if rps else None


def load_python(url: str, requests: int, concurrency: int) -> float | None:
    port = int(url.split(":")[2].split("/")[0])
    path = "/" + url.split("/", 3)[3]
    payload = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
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

def median_latency(port: int, path: str, n: int = 15) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            fetch(port, path, timeout=5)
        except OSError:
            samples.append(5.0)
            continue
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


# -- main ----------------------------------------------------------------------------------------

def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> None:
    if not VENV_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(VENV_PYTHON), "-c", "import bottle, flask, importlib.metadata as m; "
                            "assert m.version('kali') == '0.0.8'"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", *COMPARISON], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated client concurrency levels")
    parser.add_argument("--tool", choices=["ab", "wrk", "python"], default=None)
    parser.add_argument("--servers", default=None, help="comma-separated subset of: " + ", ".join(SERVERS))
    parser.add_argument("--setup", action="store_true", help="only create bench/.venv")
    parser.add_argument("--no-venv", action="store_true", help="skip the comparison servers' venv")
    args = parser.parse_args()

    if not args.no_venv and not in_venv():
        try:
            ensure_venv()
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"(bench/.venv unavailable: {exc}; comparing kali, raw and http.server only)")
        else:
            if args.setup:
                return
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
    if args.setup:
        return

    tool = args.tool or ("ab" if shutil.which("ab") else "wrk" if shutil.which("wrk") else "python")
    load = {"ab": load_ab, "wrk": load_wrk, "python": load_python}[tool]
    names = args.servers.split(",") if args.servers else list(SERVERS)
    available = []
    for name in names:
        module = OPTIONAL.get(name)
        if module and not in_venv():
            continue
        available.append(name)
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load tool: {tool}, "
          f"{args.requests} requests x {args.rounds} rounds, HTTP/1.0 hello route")

    workdir = tempfile.mkdtemp(prefix="kali-bench-")
    servers: dict[str, Running] = {}
    try:
        for name in available:
            try:
                servers[name] = Running(name, sys.executable, workdir)
            except RuntimeError as exc:
                print(f"  {name}: skipped ({exc})")
        best: dict[tuple[str, int], float] = {}
        for _ in range(args.rounds):
            for level in levels:
                for name, server in servers.items():
                    rps = load(server.url, args.requests, level)
                    if rps is not None:
                        best[(name, level)] = max(best.get((name, level), 0.0), rps)
        print()
        header = f"{'server':<12}" + "".join(f"{'-c' + str(c) + ' req/s':>14}{'vs raw':>8}" for c in levels)
        print(header)
        print("-" * len(header))
        for name in servers:
            row = f"{name:<12}"
            for level in levels:
                rps = best.get((name, level))
                raw = best.get(("raw", level))
                if rps is None:
                    row += f"{'failed':>14}{'':>8}"
                else:
                    row += f"{rps:>14,.0f}{(rps / raw if raw else 0):>7.2f}x"
            print(row)
        print()
        print("Added latency of a normal GET (median of 15) while another socket is silent or slow:")
        print(f"{'server':<12}{'silent socket':>16}{'byte-at-a-time':>18}")
        for name, server in servers.items():
            silent = stall_added(server, "silent")
            slow = stall_added(server, "slow")
            print(f"{name:<12}{silent * 1000:>13.1f} ms{slow * 1000:>15.1f} ms")
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

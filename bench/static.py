"""Static file benchmark: a 1 GiB file through StaticFolder, its throughput and the server's peak memory.

Each server runs as its own process and serves the same sparse 1 GiB file
(made with truncate in a temporary folder, so it costs no disk space and reads
come from the page cache / holes, not the disk: the figures measure the server,
not the storage).  The client downloads it ROUNDS times over loopback with
`recv_into` a reused 1 MiB buffer, counting bytes; throughput is the best round.
Peak memory is the server's `VmHWM` (resident high-water mark) from
/proc/PID/status, read once the server is up and idle and again after the
downloads: kali sends file bodies with `os.sendfile`, so it should not grow.

Baselines measured in the same run:
- the standard library's `python -m http.server` (copies the file through
  Python in 64 KiB pieces);
- kali 0.0.8's StaticFolder, when `bench/.venv` holds it (`python
  bench/templates.py --setup` makes it): it reads the whole file into memory.

    python bench/static.py            # Linux only (reads /proc)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_PYTHON = HERE / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
SIZE = 1 << 30
ROUNDS = 3
NAME = "huge.bin"

KALI_SERVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from kali.routing import Router
    from kali.server import serve_http
    from kali.static import StaticFolder

    app = Router()
    app.delegate_folder("/static/", StaticFolder(sys.argv[2]))
    serve_http(app, port=int(sys.argv[3]), start=None, access_log=False)
""")

KALI_008_SERVER = textwrap.dedent("""
    import importlib.util, logging, sys, sysconfig
    from pathlib import Path
    purelib = Path(sysconfig.get_paths()["purelib"]) / "kali"
    spec = importlib.util.spec_from_file_location("kali_008", purelib / "__init__.py",
                                                  submodule_search_locations=[str(purelib)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["kali_008"] = module
    spec.loader.exec_module(module)
    old = sys.modules["kali_008.implementation"]
    logging.getLogger("kali").setLevel(logging.WARNING)
    app = old.Router()
    app.delegate_folder("/static/", old.StaticFolder(sys.argv[2]))
    old.serve_http(app, port=int(sys.argv[3]), start=None)
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout} s")


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc/PID/status")


def download(port: int, path: str) -> tuple[int, int, float]:
    """GET path; returns (status, body bytes, seconds)."""
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    head = b""
    body = 0
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        while True:
            n = sock.recv_into(view)
            if not n:
                break
            if body == 0 and b"\r\n\r\n" not in head:
                head += bytes(buffer[:n])
                if b"\r\n\r\n" in head:
                    body = len(head) - head.index(b"\r\n\r\n") - 4
                continue
            body += n
    elapsed = time.perf_counter() - started
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body, elapsed


def run_server(label: str, command: list[str], port: int, path: str) -> dict[str, float] | None:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1"))
    try:
        wait_until_listening(port, proc)
        # One small request first, so "idle" includes whatever a first request loads.
        download(port, path.rsplit("/", 1)[0] + "/small.txt")
        idle = peak_rss_kib(proc.pid)
        best = float("inf")
        for _ in range(ROUNDS):
            status, body, seconds = download(port, path)
            if status != 200 or body != SIZE:
                print(f"{label}: status {status}, {body} bytes instead of {SIZE}; skipped")
                return None
            best = min(best, seconds)
        peak = peak_rss_kib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
    return {"seconds": best, "gib_per_s": SIZE / best / (1 << 30), "idle_mib": idle / 1024,
            "peak_mib": peak / 1024}


def main() -> None:
    if not os.path.exists("/proc/self/status"):
        raise SystemExit("bench/static.py reads /proc/PID/status: run it on Linux")
    print(f"Python {sys.version.split()[0]}; a sparse {SIZE >> 20} MiB file, best of {ROUNDS} downloads")
    results: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "static"
        folder.mkdir()
        subprocess.run(["truncate", "-s", str(SIZE), str(folder / NAME)], check=True)
        (folder / "small.txt").write_text("hello\n")
        script = Path(tmp) / "kali_server.py"
        script.write_text(KALI_SERVER)
        port = free_port()
        found = run_server("kali", [sys.executable, str(script), str(REPO), str(folder), str(port)], port,
                           f"/static/{NAME}")
        if found:
            results.append(("kali StaticFolder (sendfile)", found))
        port = free_port()
        found = run_server("http.server", [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                           "--directory", str(folder)], port, f"/{NAME}")
        if found:
            results.append(("python -m http.server", found))
        if VENV_PYTHON.exists():
            script = Path(tmp) / "kali_008_server.py"
            script.write_text(KALI_008_SERVER)
            port = free_port()
            found = run_server("kali 0.0.8", [str(VENV_PYTHON), str(script), str(REPO), str(folder), str(port)],
                               port, f"/static/{NAME}")
            if found:
                results.append(("kali 0.0.8 StaticFolder", found))
        else:
            print("kali 0.0.8 not measured: run `python bench/templates.py --setup` to create bench/.venv")
    print(f"\n{'server':32} {'GiB/s':>7} {'s/GiB':>7} {'idle RSS':>10} {'peak RSS':>10} {'growth':>9}")
    for label, r in results:
        print(f"{label:32} {r['gib_per_s']:7.2f} {r['seconds']:7.2f} {r['idle_mib']:8.1f} MiB "
              f"{r['peak_mib']:8.1f} MiB {r['peak_mib'] - r['idle_mib']:7.1f} MiB")
    if results and results[0][0].startswith("kali StaticFolder"):
        ours = results[0][1]
        for label, r in results[1:]:
            print(f"kali vs {label}: {ours['gib_per_s'] / r['gib_per_s']:.2f}x the throughput, "
                  f"peak RSS {ours['peak_mib']:.0f} vs {r['peak_mib']:.0f} MiB")
        growth = ours["peak_mib"] - ours["idle_mib"]
        print(f"kali server memory growth while sending 1 GiB: {growth:.1f} MiB "
              f"({'flat' if growth < 16 else 'NOT flat'})")


if __name__ == "__main__":
    main()

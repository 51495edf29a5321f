"""An app's life as a program, timed: a second launch, a forced stop, quitting after the last page, idle CPU.

    python bench/lifecycle.py [--rounds 10] [--idle-seconds 5]

Every figure is the median of `--rounds` interleaved pairs (a candidate round, then its
baseline round, in the same iteration), printed with [min-max] and (quartiles):

- second launch: the wall time of `python app.py` while the app already runs (it
  pings the running instance and exits), against `python -c "from kali import
  serve_http"` (start-up and import alone); the difference is what finding the
  first instance costs. The issue's target: the second launch exits within 2 s.
- forced stop: from a second SIGINT, sent while a handler is stuck in time.sleep,
  to the process's exit, against the time from a single SIGINT to the exit of an
  idle app. The target: within a second.
- quit after the last page: from closing the only `/_kali/events` stream to the
  process's exit, minus the linger (KALI_QUIT_AFTER=0.5); the watcher looks twice a
  second, so 0-0.5 s plus the way out is expected.
- idle CPU: CPU seconds (/proc/PID/task/*/schedstat of the app, all threads) over
  `--idle-seconds` with one open page (its stream wakes once a second), against the
  same app with no page.

Runs on Linux with the interpreter running it (no venv needed: kali only).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, cpu_seconds_fine, spread, stop  # noqa: E402

APP = f"""
import sys, time
sys.path.insert(0, {str(REPO)!r})
from kali import serve_http
def app(request):
    if request.path == "/slow":
        print("slow", flush=True)
        time.sleep(60)
    return "<p>page</p>"
serve_http(app, access_log=False)
"""


def start(script: Path, data: Path, **env: str) -> tuple[subprocess.Popen[str], int]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KALI_")}
    full.update(KALI_DATA_DIR=str(data), KALI_NO_BROWSER="1", PYTHONUNBUFFERED="1", **env)
    proc = subprocess.Popen([sys.executable, str(script)], env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("kali: serving "):
        stop(proc)
        raise RuntimeError(f"the app did not start: {line!r}")
    return proc, int(line.split()[-1].rstrip("/").rsplit(":", 1)[1])


def timed_run(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed: {done.stderr}")
    return took


def second_launch(script: Path, folder: Path, rounds: int) -> None:
    data = folder / "second"
    first, _ = start(script, data, KALI_PORT="0")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALI_")}
    env.update(KALI_DATA_DIR=str(data), KALI_NO_BROWSER="1", PYTHONPATH=str(REPO))
    candidate, baseline, extra = [], [], []
    try:
        for _ in range(rounds):
            c = timed_run([sys.executable, str(script)], env)
            b = timed_run([sys.executable, "-c", "from kali import serve_http"], env)
            candidate.append(c * 1000)
            baseline.append(b * 1000)
            extra.append((c - b) * 1000)
    finally:
        stop(first)
    print(f"second launch (ms):           {spread(candidate, '{:.0f}')}")
    print(f"  python + import kali (ms):  {spread(baseline, '{:.0f}')}")
    print(f"  difference per pair (ms):   {spread(extra, '{:.0f}')}")


def forced_stop(script: Path, folder: Path, rounds: int) -> None:
    forced, plain = [], []
    for i in range(rounds):
        proc, port = start(script, folder / f"forced{i}", KALI_PORT="0")
        stuck = socket.create_connection(("127.0.0.1", port))
        stuck.sendall(f"GET /slow HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert proc.stdout is not None and proc.stdout.readline().strip() == "slow"
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        began = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        forced.append((time.perf_counter() - began) * 1000)
        stuck.close()
        stop(proc)
        proc, port = start(script, folder / f"plain{i}", KALI_PORT="0")
        began = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        plain.append((time.perf_counter() - began) * 1000)
        stop(proc)
    print(f"second SIGINT to exit, handler stuck (ms): {spread(forced, '{:.0f}')}")
    print(f"  one SIGINT to exit, idle app (ms):       {spread(plain, '{:.0f}')}")


def open_page(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"GET /_kali/events HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    received = b""
    while b"event: hello" not in received:
        received += sock.recv(4096)
    return sock


def quit_after_last_page(script: Path, folder: Path, rounds: int) -> None:
    linger = 0.5
    delays = []
    for i in range(rounds):
        proc, port = start(script, folder / f"quit{i}", KALI_PORT="0", KALI_QUIT_AFTER=str(linger))
        page = open_page(port)
        time.sleep(0.3)
        began = time.perf_counter()
        page.close()
        proc.wait(10)
        delays.append((time.perf_counter() - began - linger) * 1000)
        stop(proc)
    print(f"last page closed to exit, minus the {linger} s linger (ms): {spread(delays, '{:.0f}')}")


def idle_cpu(script: Path, folder: Path, rounds: int, seconds: float) -> None:
    with_page, without = [], []
    for i in range(rounds):
        for bucket, opened in ((with_page, True), (without, False)):
            proc, port = start(script, folder / f"idle{i}{opened}", KALI_PORT="0", KALI_QUIT_AFTER="60")
            page = open_page(port) if opened else None
            time.sleep(0.5)
            before = cpu_seconds_fine(proc.pid)
            time.sleep(seconds)
            bucket.append((cpu_seconds_fine(proc.pid) - before) * 1000 / seconds)
            if page is not None:
                page.close()
            stop(proc)
    print(f"idle CPU with one open page (ms per s): {spread(with_page, '{:.2f}')}")
    print(f"  with no page (ms per s):              {spread(without, '{:.2f}')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kali-bench-life-") as tmp:
        folder = Path(tmp)
        script = folder / "benchapp.py"
        script.write_text(APP)
        print(f"python {sys.version.split()[0]}, {args.rounds} interleaved rounds")
        second_launch(script, folder, args.rounds)
        forced_stop(script, folder, args.rounds)
        quit_after_last_page(script, folder, args.rounds)
        idle_cpu(script, folder, args.rounds, args.idle_seconds)


if __name__ == "__main__":
    main()

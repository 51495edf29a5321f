"""`run --reload`, timed: how soon new code answers after a save, and what watching the files costs.

    python bench/reload.py [--rounds 10] [--idle-seconds 5]

Every figure is the median of `--rounds` interleaved pairs (a candidate round, then its
baseline round, in the same iteration), printed with [min-max] and (quartiles):

- save to new answer: a copy of examples/intro.py runs under `python -m kali run
  --reload`; each round saves a new greeting into it and requests GET / every 5 ms
  until the new text comes back, timed from the end of the write (made after a
  random pause of 0.3-0.55 s, so saves fall all over the watcher's period).
  Baseline: what a restart by hand costs at best, from starting `python intro.py`
  to its first answer.  The issue's target: under 1 s.
- the watcher, live: CPU seconds of the idle supervisor (/proc/PID/task/*/schedstat,
  all threads) per second, for an app of 200 files (150 modules it imports, 30
  templates, 20 stylesheets and scripts, in 10 packages) against the supervisor
  of a one-file app.  The target: under 1 % of one core (10 ms/s).
- Ctrl-C: from SIGINT to the terminal's process group (the supervisor and its app
  process) to the end of both, against the same for `python intro.py` alone.  The
  target: both stop within a second.
- the watcher, one look: CPU time of `SourceWatcher.poll()` on the 200-file tree
  (time.thread_time over 200 looks), against a naive look that walks the tree and
  stats every file (what a watcher without folder stamps does).

Runs on Linux with the interpreter running it (no venv needed: kali only).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, cpu_seconds_fine, spread, stop  # noqa: E402

sys.path.insert(0, str(REPO))
from kali.watch import POLL_SECONDS, SourceWatcher  # noqa: E402

INTRO = REPO / "examples" / "intro.py"
GREETING = "<h1>Hello from kali</h1>"


def environment(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALI_")}
    env.update(KALI_DATA_DIR=str(data), KALI_NO_BROWSER="1", KALI_PORT="0", PYTHONUNBUFFERED="1",
               PYTHONPATH=str(REPO))
    return env


def started(command: list[str], env: dict[str, str], cwd: Path, *,
            new_session: bool = False) -> tuple[subprocess.Popen[str], int]:
    """A kali process and the port from its `kali: serving URL` line."""
    proc = subprocess.Popen(command, env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=new_session)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("kali: serving "):
            url = line.split()[2]
            return proc, int(url.rstrip("/").rsplit(":", 1)[1])
    stop(proc)
    raise SystemExit(f"{command} ended without serving")


def body(port: int) -> str:
    """GET / on a new connection ('' if the connection failed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET / HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError:
        return ""
    return b"".join(chunks).decode("utf-8", "replace")


def save_to_answer(script: Path, port: int, round_number: int) -> float:
    """Seconds from the end of a save to the first answer with its new text."""
    greeting = f"<h1>Hello from round {round_number}</h1>"
    source = INTRO.read_text().replace(GREETING, greeting)
    # A save lands anywhere in the watcher's period: a fixed pause would keep each save at
    # the same phase of the looks (and measure one point of the period again and again).
    time.sleep(0.3 + random.Random(round_number).uniform(0, POLL_SECONDS))
    script.write_text(source)
    saved = time.perf_counter()
    deadline = saved + 30
    while greeting not in body(port):
        if time.perf_counter() > deadline:
            raise SystemExit(f"round {round_number}: the new code did not answer within 30 s")
        time.sleep(0.005)
    return time.perf_counter() - saved


def restart_by_hand(folder: Path, data: Path) -> float:
    """Seconds from starting `python intro.py` to its first answer."""
    begun = time.perf_counter()
    proc, port = started([sys.executable, str(folder / "intro.py")], environment(data), folder)
    try:
        while "Hello" not in body(port):
            time.sleep(0.005)
        return time.perf_counter() - begun
    finally:
        stop(proc)


def ctrl_c(command: list[str], folder: Path, data: Path) -> float:
    """Seconds from a Ctrl-C to the process group of `command` (started idle) to the end of all of it."""
    proc, port = started(command, environment(data), folder, new_session=True)
    try:
        while "Hello" not in body(port):
            time.sleep(0.01)            # the app process serves (under --reload: it is up)
        members = [int(pid) for pid in subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True,
                                                      text=True).stdout.split()]
        pressed = time.perf_counter()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
        while any(os.path.exists(f"/proc/{pid}") and not _zombie(pid) for pid in members):
            time.sleep(0.001)
        return time.perf_counter() - pressed
    finally:
        stop(proc)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def big_app(folder: Path) -> Path:
    """An app of 200 watched files: 150 modules (all imported), 30 templates, 20 stylesheets and scripts."""
    imports = []
    for package in range(10):
        pkg = folder / f"part{package}"
        (pkg / "templates").mkdir(parents=True)
        (pkg / "static").mkdir()
        (pkg / "__init__.py").write_text("")
        for module in range(14):
            (pkg / f"module{module}.py").write_text(f"VALUE = {package * 100 + module}\n" * 20)
            imports.append(f"import part{package}.module{module}")
        for template in range(3):
            (pkg / "templates" / f"page{template}.tpl").write_text("<p>{x}</p>\n")
        for asset in range(2):
            (pkg / "static" / f"style{asset}.{'css' if asset else 'js'}").write_text("p{}\n")
    script = folder / "app.py"
    script.write_text("\n".join(imports) + "\nfrom kali import serve_http\n"
                      "serve_http(lambda request: '<p>big</p>', access_log=False)\n")
    return script


def naive_look(root: str, stamps: dict[str, tuple[int, int]]) -> int:
    """Walk the whole tree and stat every source file: the look without folder stamps."""
    changed = 0
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if not name.startswith(".") and name != "__pycache__"]
        for name in files:
            if name.endswith((".py", ".tpl", ".css", ".js", ".sql")):
                path = os.path.join(folder, name)
                info = os.stat(path)
                stamp = (info.st_mtime_ns, info.st_size)
                if stamps.get(path) != stamp:
                    stamps[path] = stamp
                    changed += 1
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        raise SystemExit("bench/reload.py reads /proc: run it on Linux")
    work = Path(tempfile.mkdtemp(prefix="kali-bench-reload-"))
    processes: list[subprocess.Popen[str]] = []
    try:
        intro = work / "intro"
        intro.mkdir()
        shutil.copy(INTRO, intro / "intro.py")
        reload_command = [sys.executable, "-m", "kali", "run", "--reload", str(intro / "intro.py")]
        supervisor, port = started(reload_command, environment(work / "data-reload"), intro)
        processes.append(supervisor)
        saves, restarts = [], []
        for n in range(args.rounds):
            saves.append(save_to_answer(intro / "intro.py", port, n))
            restarts.append(restart_by_hand(intro, work / "data-by-hand"))
        stop(supervisor)
        stops, plain_stops = [], []
        for _ in range(args.rounds):
            stops.append(ctrl_c(reload_command, intro, work / "data-reload"))
            plain_stops.append(ctrl_c([sys.executable, str(intro / "intro.py")], intro, work / "data-by-hand"))

        big = work / "big"
        big.mkdir()
        script = big_app(big)
        small = work / "small"
        small.mkdir()
        shutil.copy(INTRO, small / "intro.py")
        big_supervisor, _ = started([sys.executable, "-m", "kali", "run", "--reload", str(script)],
                                    environment(work / "data-big"), big)
        small_supervisor, _ = started([sys.executable, "-m", "kali", "run", "--reload", str(small / "intro.py")],
                                      environment(work / "data-small"), small)
        processes += [big_supervisor, small_supervisor]
        time.sleep(2)           # both app processes have started and said what they imported
        idle_big, idle_small = [], []
        for _ in range(args.rounds):
            for pid, values in ((big_supervisor.pid, idle_big), (small_supervisor.pid, idle_small)):
                before = cpu_seconds_fine(pid)
                time.sleep(args.idle_seconds)
                values.append((cpu_seconds_fine(pid) - before) / args.idle_seconds * 1000)

        watcher = SourceWatcher(big)
        stamps: dict[str, tuple[int, int]] = {}
        naive_look(str(big), stamps)
        looks, naive = [], []
        for _ in range(args.rounds):
            began = time.thread_time()
            for _ in range(200):
                watcher.poll()
            looks.append((time.thread_time() - began) / 200 * 1e6)
            began = time.thread_time()
            for _ in range(200):
                naive_look(str(big), stamps)
            naive.append((time.thread_time() - began) / 200 * 1e6)
    finally:
        for proc in processes:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)

    print(f"python {sys.version.split()[0]}, {args.rounds} interleaved pairs, median [min-max] (quartiles)")
    print(f"save to new answer (intro, --reload):    {spread([s * 1000 for s in saves], '{:.0f}', ' ms')}")
    print(f"  restart by hand, start to first answer: {spread([s * 1000 for s in restarts], '{:.0f}', ' ms')}")
    print(f"Ctrl-C to both processes ended:          {spread([s * 1000 for s in stops], '{:.0f}', ' ms')}")
    print(f"  Ctrl-C to the end of python intro.py:   {spread([s * 1000 for s in plain_stops], '{:.0f}', ' ms')}")
    print(f"idle supervisor, 200-file app:           {spread(idle_big, '{:.2f}', ' ms/s')}"
          f"  = {spread([v / 10 for v in idle_big], '{:.3f}', ' %')} of one core")
    print(f"  idle supervisor, one-file app:          {spread(idle_small, '{:.2f}', ' ms/s')}")
    print(f"one look at the 200-file tree:           {spread(looks, '{:.0f}', ' us')}"
          f" ({watcher.watched} files)")
    print(f"  a walk that stats every file:           {spread(naive, '{:.0f}', ' us')}")


if __name__ == "__main__":
    main()

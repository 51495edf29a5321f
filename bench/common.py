"""Helpers the benchmark scripts share: bench/.venv, summary statistics, /proc readings, git revisions.

Not a benchmark itself. Every figure a script prints goes through `summary()`: the
median of interleaved rounds with min-max and quartiles, never a best round.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
VENV_PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
#: What bench/.venv holds: the peers kali is compared with (never a dependency of kali).
VENV_PACKAGES = ["bottle", "flask", "jinja2", "waitress", "kali==0.0.8", "playwright"]
_VENV_PROBE = ("import bottle, flask, jinja2, waitress, playwright, importlib.metadata as m; "
               "assert m.version('kali') == '0.0.8'")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def in_venv() -> bool:
    """Whether this interpreter is bench/.venv's."""
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> None:
    """Create bench/.venv with VENV_PACKAGES unless it already has them all."""
    if not VENV_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if subprocess.run([str(VENV_PYTHON), "-c", _VENV_PROBE], capture_output=True).returncode != 0:
        subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *VENV_PACKAGES], check=True)


def reexec_in_venv() -> None:
    """Run this script again under bench/.venv's interpreter (creating it first) unless already there."""
    if in_venv():
        return
    ensure_venv()
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])


# -- statistics ---------------------------------------------------------------------------------

def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and quartiles of a series of rounds."""
    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1], "q1": q1, "q3": q3,
            "n": len(ordered)}


def spread(values: Sequence[float], fmt: str = "{:.2f}", unit: str = "") -> str:
    """'median [min-max] (q1-q3)' for printing, e.g. '0.61x [0.55-0.66] (0.59-0.63)'."""
    s = summary(values)
    f = fmt.format
    return (f"{f(s['median'])}{unit} [{f(s['min'])}-{f(s['max'])}] "
            f"({f(s['q1'])}-{f(s['q3'])})")


# -- processes ------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far, all its threads, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name may hold spaces and parentheses: count fields after its closing one.
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cpu_seconds_fine(pid: int) -> float:
    """CPU seconds a process has run so far, all threads, from /proc/PID/task/*/schedstat (nanoseconds,
    where /proc/PID/stat counts 10 ms ticks); for short measurements such as one page load."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass            # a thread that ended meanwhile
    return total / 1e9


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure from /proc/PID/status in KiB: VmRSS (resident now) or VmHWM (peak resident)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def free_port() -> int:
    """A port nothing listens on now (for servers that cannot be told to use port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """Stop a server this script started: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- kali at a git revision ---------------------------------------------------------------------

@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """This repository at `revision` in a temporary `git worktree` (removed afterwards); yields its root."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", revision + "^{commit}"],
                            capture_output=True, text=True)
    if commit.returncode != 0:
        raise SystemExit(f"not a git revision here: {revision!r} ({commit.stderr.strip()})")
    parent = Path(tempfile.mkdtemp(prefix="kali-rev-"))
    tree = parent / "tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree),
                    commit.stdout.strip()], check=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True)


def describe(revision: str) -> str:
    """'REV (abc1234)' for a printed header."""
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", revision], capture_output=True, text=True)
    return f"{revision} ({done.stdout.strip()})" if done.returncode == 0 else revision


def working_tree_label() -> str:
    """'working tree (abc1234 + changes)' for a printed header."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "kali"],
                           capture_output=True, text=True).stdout.strip()
    return f"working tree ({head.stdout.strip()}{' + changes in kali/' if dirty else ''})"

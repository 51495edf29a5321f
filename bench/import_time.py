"""Import time: what `import kali` (and a typical app's imports) add to Python's start-up.

    python bench/import_time.py [--rounds N]

Each case is a fresh `python -c ...` process, run in interleaved rounds with
`python -c pass` as the baseline measured in the same run; the figure is the
best (and median) wall time minus the baseline's best, against the 30 ms target
for `import kali`.  Then `python -X importtime -c "import kali"` shows which
modules cost what (the interpreter's own accounting, in microseconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_MS = 30.0

CASES = [
    ("python -c pass (baseline)", "pass"),
    ("import kali", "import kali"),
    ("kali.__version__", "import kali; kali.__version__"),
    ("from kali import serve_http, Router, Response", "from kali import serve_http, Router, Response"),
    ("+ templates, forms, sqlite", "from kali import serve_http, Router, Response, TemplateFolder, guard, "
                                   "open_database; import kali.forms"),
    ("import http.server (stdlib, for scale)", "import http.server"),
]


def run_once(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=str(REPO), env=env, check=True)
    return (time.perf_counter() - started) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds (default 30)")
    args = parser.parse_args()
    # The checkout's kali, never an installed one; no bytecode writing, so every run is alike.
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    for _, code in CASES:
        run_once(code, env)          # warm the OS file cache and __pycache__
    times: dict[str, list[float]] = {label: [] for label, _ in CASES}
    for _ in range(args.rounds):
        for label, code in CASES:
            times[label].append(run_once(code, env))
    base = min(times[CASES[0][0]])
    print(f"Python {sys.version.split()[0]}, {args.rounds} interleaved rounds, wall time of a fresh process")
    print(f"{'case':48} {'best ms':>8} {'median':>8} {'- baseline':>11}")
    for label, _ in CASES:
        best, median = min(times[label]), statistics.median(times[label])
        extra = "" if label == CASES[0][0] else f"{best - base:11.1f}"
        print(f"{label:48} {best:8.1f} {median:8.1f} {extra}")
    kali_ms = min(times["import kali"]) - base
    verdict = "within" if kali_ms < TARGET_MS else "OVER"
    print(f"\nimport kali adds {kali_ms:.1f} ms to start-up: {verdict} the {TARGET_MS:.0f} ms target "
          f"({kali_ms / TARGET_MS:.2f}x of it)")

    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import kali"], cwd=str(REPO), env=env,
                          capture_output=True, text=True, check=True)
    rows: list[tuple[int, int, int, str]] = []        # (depth, self us, cumulative us, name)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2 + 1
        rows.append((depth, int(own), int(cumulative), name.strip()))
    # importtime lists a module after everything it imported: kali's rows are the ones just
    # before its own top-level row that are nested deeper.
    end = max(i for i, row in enumerate(rows) if row[0] == 1 and row[3] == "kali")
    first = end
    while first > 0 and rows[first - 1][0] > 1:
        first -= 1
    print(f"\n-X importtime of `import kali` (interpreter accounting, importtime's own overhead included):")
    for depth, own, cumulative, name in rows[first:end + 1]:
        if cumulative >= 300 or name.startswith("kali"):
            print(f"  {'  ' * (depth - 1)}{name:{32 - 2 * (depth - 1)}} self {own / 1000:6.2f} ms   "
                  f"cumulative {cumulative / 1000:6.2f} ms")

if __name__ == "__main__":
    main()

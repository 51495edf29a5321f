"""Import time: what `import kali` and an app's import line add to Python's start-up, against the standard library's http.server.

    python bench/import_time.py [--rounds 15] [--python PATH] [--baseline-rev REV]

Each case is a fresh `python -c ...` process. One iteration runs every case once, in an
order reversed every other iteration; a case's figure is the median over the
iterations of its wall time minus the `python -c pass` round of the same iteration,
with [min-max] and (quartiles). Two measures per case, taken in separate processes:

- wall: the whole process (start, import, exit) as the shell sees it;
- in-process: the case's code alone, timed inside that same process with time.perf_counter
  (no interpreter start-up or tear-down: steadier when the machine is busy);
- importtime: the sum of the interpreter's own per-module self times from
  `python -X importtime` (no process start-up noise, but importtime's own overhead).

The target (issue 16): the app line `from kali import serve_http, Router, Response,
TemplateFolder, guard, open_database` + `import kali.forms` no slower than `import
http.server`; the script prints the per-iteration difference (app line - http.server).

Bytecode: the modules are compiled once before measuring and `.pyc` files are used
(PYTHONDONTWRITEBYTECODE is removed from the environment): an app starts from its
cached bytecode, and without it every start would recompile kali.

The interpreter defaults to bench/.venv's (a plain venv: no site-packages `.pth` hooks
that import modules at start-up and hide their cost); --python picks another.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, VENV_PYTHON, checkout, describe, spread, working_tree_label  # noqa: E402

NO_PYC = "no .pyc"
APP_LINE = ("from kali import serve_http, Router, Response, TemplateFolder, guard, open_database; "
            "import kali.forms")
CASES = [
    ("python -c pass (baseline)", "pass"),
    ("import kali", "import kali"),
    ("from kali import serve_http, Router, Response", "from kali import serve_http, Router, Response"),
    ("app line (+ TemplateFolder, guard, open_database, kali.forms)", APP_LINE),
    ("app line + a Router with one route",
     APP_LINE + "; app = Router(); app.function('/n/*')(lambda n: str(n + 1))"),
    ("import http.server (the target)", "import http.server"),
    ("import bottle (for scale)", "import bottle"),
]


def wall_ms(python: str, code: str, env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(the whole process's wall ms, the ms its `code` took inside the process)."""
    timed = f"import time as _t\n_s = _t.perf_counter()\n{code}\nprint((_t.perf_counter() - _s) * 1000.0)"
    started = time.perf_counter()
    done = subprocess.run([python, "-c", timed], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return (time.perf_counter() - started) * 1000.0, float(done.stdout.split()[-1])


def importtime_ms(python: str, code: str, env: dict[str, str], cwd: str) -> tuple[float, dict[str, int]]:
    """(sum of self times in ms, {module: self µs}) from one `-X importtime` run."""
    done = subprocess.run([python, "-X", "importtime", "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, check=True)
    modules: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line[len("import time:"):].split("|")
        modules[name.strip()] = int(own)
    return sum(modules.values()) / 1000.0, modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved iterations (default 15, at least 10)")
    parser.add_argument("--python", default=str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable,
                        help="the interpreter to time (default: bench/.venv's)")
    parser.add_argument("--baseline-rev", metavar="REV", help="also time the app line with kali at git revision REV")
    args = parser.parse_args()
    python = args.python
    with ExitStack() as stack:
        trees = {"": REPO}
        cases = list(CASES)
        rev_of: dict[str, str] = {}
        if args.baseline_rev:
            trees[args.baseline_rev] = stack.enter_context(checkout(args.baseline_rev))
            cases.append((f"app line, kali@{args.baseline_rev}", APP_LINE))
            rev_of[cases[-1][0]] = args.baseline_rev
        # The app line as PYTHONDONTWRITEBYTECODE=1 on a fresh checkout runs it: kali compiled
        # from source on every start (a copy of kali/ without __pycache__, never written).
        fresh = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kali-nopyc-")))
        shutil.copytree(REPO / "kali", fresh / "kali", ignore=shutil.ignore_patterns("__pycache__"))
        trees[NO_PYC] = fresh
        cases.append(("app line, no kali .pyc (PYTHONDONTWRITEBYTECODE=1)", APP_LINE))
        rev_of[cases[-1][0]] = NO_PYC
        have_bottle = subprocess.run([python, "-c", "import bottle"], capture_output=True).returncode == 0
        if not have_bottle:
            cases = [c for c in cases if "bottle" not in c[1]]
        envs: dict[str, dict[str, str]] = {}
        for label, _ in cases:
            rev = rev_of.get(label, "")
            env = dict(os.environ, PYTHONPATH=str(trees[rev]))
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            if rev == NO_PYC:
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            envs[label] = env
        for rev, tree in trees.items():
            if rev != NO_PYC:
                compileall.compile_dir(str(tree / "kali"), quiet=1)
        for label, code in cases:       # warm the OS file cache and every __pycache__ (stdlib included)
            wall_ms(python, code, envs[label], tempfile.gettempdir())
        cwd = tempfile.gettempdir()     # not the checkout: `import kali` must come from PYTHONPATH
        walls: dict[str, list[float]] = {label: [] for label, _ in cases}
        inside: dict[str, list[float]] = {label: [] for label, _ in cases}
        selfs: dict[str, list[float]] = {label: [] for label, _ in cases}
        module_self: dict[str, dict[str, list[int]]] = {label: {} for label, _ in cases}
        for iteration in range(args.rounds):
            order = cases if iteration % 2 == 0 else cases[::-1]
            for label, code in order:
                whole, own = wall_ms(python, code, envs[label], cwd)
                walls[label].append(whole)
                inside[label].append(own)
            for label, code in order:
                total, modules = importtime_ms(python, code, envs[label], cwd)
                selfs[label].append(total)
                for name, us in modules.items():
                    module_self[label].setdefault(name, []).append(us)

    base = CASES[0][0]
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                             text=True).stdout.strip()
    print(f"Python {version} ({python}); kali = {working_tree_label()}"
          + (f", kali@{args.baseline_rev} = {describe(args.baseline_rev)}" if args.baseline_rev else "")
          + f"; {args.rounds} interleaved iterations, .pyc files present")
    print(f"\n{'case':<64} {'wall ms - pass':>28} {'in-process ms':>28} {'importtime ms (sum of self)':>30}")
    for label, _ in cases:
        wall = [w - b for w, b in zip(walls[label], walls[base])]
        text = spread(walls[label], "{:.1f}") if label == base else spread(wall, "{:.1f}")
        print(f"{label:<64} {text:>28} {spread(inside[label], '{:.1f}'):>28} {spread(selfs[label], '{:.1f}'):>30}")

    def paired(a: str, b: str) -> str:
        return ", ".join(f"{name} {spread([x - y for x, y in zip(series[a], series[b])], '{:+.1f}', ' ms')}"
                         for name, series in (("wall", walls), ("in-process", inside), ("importtime", selfs)))

    app, target = CASES[3][0], CASES[5][0]
    wall_gap = [a - b for a, b in zip(walls[app], walls[target])]
    print(f"\napp line - import http.server, per iteration: {paired(app, target)}")
    for label in rev_of:
        if rev_of[label] == args.baseline_rev:
            print(f"app line - app line with kali@{args.baseline_rev}, per iteration: {paired(app, label)}")
    import statistics
    verdict = "meets" if statistics.median(wall_gap) <= 0 else "MISSES"
    print(f"target (app line no slower than import http.server, median wall): {verdict} it")

    # Where the app line's time goes: median self time per module, kali's own and the standard
    # library modules that http.server does not import.
    stdlib_of_target = set(module_self[target])
    rows = sorted(((statistics.median(v) / 1000.0, name) for name, v in module_self[app].items()
                   if name.startswith("kali") or name not in stdlib_of_target), reverse=True)
    print(f"\n-X importtime of the app line: median self ms of kali's modules and of the modules "
          f"`import http.server` does not load ({sum(ms for ms, _ in rows):.1f} ms in all)")
    for ms, name in rows[:25]:
        print(f"  {name:<36} {ms:6.2f}")


if __name__ == "__main__":
    main()

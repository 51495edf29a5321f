"""Router lookup benchmark: the cost of dispatching one request with 10 routes vs 1,000 routes.

The router is on every request's path, so a big app must not route slower than
a small one.  Each table mixes five kinds of route (a literal path, a `*`
wildcard passed as text, a wildcard converted to int, a wildcard plus an int
query argument, a folder handler); the lookups hit routes registered last, and
one path that is not published (404).  The time reported is a dispatch
(`router(request)`, handler included: it returns a ready Response) minus
building the same `Request`, per call, best of several interleaved rounds; the
total (building plus dispatching) is printed too.

    python bench/routing.py

If `bench/.venv` holds kali 0.0.8 (`python bench/templates.py --setup` makes
it), its router is measured the same way for comparison (literal, wildcard and
404 lookups only: it has no conversions or folders of this kind).  Its Request
splits the path and parses the query when built, so the comparison uses totals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_PYTHON = HERE / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

SIZES = (10, 1000)
NUMBER = 20000      # dispatches per timing
REPEAT = 7          # interleaved rounds; the best is kept
KINDS = ("literal", "wildcard", "int wildcard", "wildcard + int query", "folder", "404")


def kali_tables() -> tuple[dict[int, Any], dict[int, list[tuple[str, str]]], Callable[[str], Any]]:
    sys.path.insert(0, str(REPO))
    from kali.request import Request
    from kali.response import Response
    from kali.routing import Router

    ok = Response(b"ok")

    def folder(request: Request) -> Response:
        return ok

    routers: dict[int, Any] = {}
    targets: dict[int, list[tuple[str, str]]] = {}
    for size in SIZES:
        router = Router()
        for i in range(size):
            kind = i % 5
            if kind == 0:
                router.function(f"/page{i}/about")(lambda: ok)
            elif kind == 1:
                router.function(f"/user{i}/*/profile")(lambda name: ok)
            elif kind == 2:
                def task(number: int) -> Response:
                    return ok
                router.function(f"/task{i}/*/edit")(task)
            elif kind == 3:
                def search(topic: str, page: int = 1) -> Response:
                    return ok
                router.function(f"/search{i}/*")(search)
            else:
                router.delegate_folder(f"/files{i}/", folder)
        last = size - 5
        routers[size] = router
        targets[size] = [
            ("literal", f"/page{last}/about"),
            ("wildcard", f"/user{last + 1}/alice/profile"),
            ("int wildcard", f"/task{last + 2}/42/edit"),
            ("wildcard + int query", f"/search{last + 3}/news?page=3"),
            ("folder", f"/files{last + 4}/css/site.css"),
            ("404", f"/page{last}/missing"),
        ]
    return routers, targets, lambda target: Request("GET", target)


def kali_008_tables() -> tuple[dict[int, Any], dict[int, list[tuple[str, str]]], Callable[[str], Any]]:
    import importlib.util
    import sysconfig
    purelib = Path(sysconfig.get_paths()["purelib"]) / "kali"
    spec = importlib.util.spec_from_file_location("kali_008", purelib / "__init__.py",
                                                  submodule_search_locations=[str(purelib)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kali_008"] = module
    spec.loader.exec_module(module)
    old = sys.modules["kali_008.implementation"]
    ok = old.Response(b"ok")
    routers: dict[int, Any] = {}
    targets: dict[int, list[tuple[str, str]]] = {}
    for size in SIZES:
        router = old.Router()
        for i in range(size):
            if i % 5 in (0, 2, 3, 4):
                router.function(f"/page{i}/about")(lambda: ok)
            else:
                router.function(f"/user{i}/*/profile")(lambda name: ok)
        last = size - 5
        routers[size] = router
        targets[size] = [("literal", f"/page{last}/about"), ("wildcard", f"/user{last + 1}/alice/profile"),
                         ("404", f"/page{last}/missing")]
    headers = old.Bag()
    return routers, targets, lambda target: old.Request("GET", target, "HTTP/1.1", headers, b"")


def measure(routers: dict[int, Any], targets: dict[int, list[tuple[str, str]]],
            make_request: Callable[[str], Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Microseconds per call, {"dispatch"|"total": {size: {kind: us}}}, best of REPEAT interleaved rounds.

    "total" is building the request plus dispatching it; "dispatch" subtracts the building.
    """
    best: dict[str, dict[str, dict[str, float]]] = {
        what: {str(size): {} for size in SIZES} for what in ("dispatch", "total")}
    for size in SIZES:     # check every lookup answers as expected before timing it
        for kind, target in targets[size]:
            code = getattr(routers[size](make_request(target)), "code", None)
            expected = 404 if kind == "404" else 200
            if code is not None and code != expected:
                raise SystemExit(f"{target}: expected {expected}, got {code}")
    for _ in range(REPEAT):
        for size in SIZES:
            router = routers[size]
            for kind, target in targets[size]:
                loop = range(NUMBER)
                started = time.perf_counter()
                for _ in loop:
                    make_request(target)
                baseline = time.perf_counter() - started
                started = time.perf_counter()
                for _ in loop:
                    router(make_request(target))
                total = time.perf_counter() - started
                for what, seconds in (("dispatch", total - baseline), ("total", total)):
                    us = seconds / NUMBER * 1e6
                    previous = best[what][str(size)].get(kind)
                    if previous is None or us < previous:
                        best[what][str(size)][kind] = us
    return best


def print_table(title: str, results: dict[str, dict[str, float]]) -> float:
    small, large = results[str(SIZES[0])], results[str(SIZES[1])]
    print(f"\n{title}")
    print(f"{'lookup':24} {SIZES[0]:>7} routes {SIZES[1]:>7} routes   ratio")
    for kind in KINDS:
        if kind in small:
            print(f"{kind:24} {small[kind]:9.2f} us {large[kind]:11.2f} us {large[kind] / small[kind]:7.2f}x")
    mean_small = sum(small.values()) / len(small)
    mean_large = sum(large.values()) / len(large)
    ratio = mean_large / mean_small
    print(f"{'mean':24} {mean_small:9.2f} us {mean_large:11.2f} us {ratio:7.2f}x")
    return ratio


def main() -> None:
    if "--kali-008" in sys.argv:
        print(json.dumps(measure(*kali_008_tables())))
        return
    print(f"Python {sys.version.split()[0]}; {NUMBER} calls per timing, best of {REPEAT}")
    ours = measure(*kali_tables())
    ratio = print_table("kali (this checkout): dispatch = router(request) minus building the Request",
                        ours["dispatch"])
    print_table("kali (this checkout): total = Request(...) + router(request)", ours["total"])
    verdict = "OK" if ratio <= 2.0 else "TOO SLOW"
    print(f"\n1,000 routes vs 10 routes (dispatch, mean): {ratio:.2f}x (target <= 2x): {verdict}")
    if VENV_PYTHON.exists():
        run = subprocess.run([str(VENV_PYTHON), __file__, "--kali-008"], capture_output=True, text=True)
        if run.returncode == 0:
            # 0.0.8 splits the path and parses the query while building its Request: compare totals.
            old = json.loads(run.stdout)
            print_table("kali 0.0.8 (bench/.venv): total = Request(...) + router(request)", old["total"])
            for size in map(str, SIZES):
                shared = [kind for kind in old["total"][size]]
                mine = sum(ours["total"][size][k] for k in shared) / len(shared)
                theirs = sum(old["total"][size][k] for k in shared) / len(shared)
                print(f"{size} routes, {', '.join(shared)}: kali {mine:.2f} us, 0.0.8 {theirs:.2f} us "
                      f"(0.0.8 / kali = {theirs / mine:.2f}x)")
        else:
            print(f"\nkali 0.0.8 not measured: {run.stderr.strip().splitlines()[-1:]}")
    else:
        print("\nkali 0.0.8 not measured: run `python bench/templates.py --setup` to create bench/.venv")


if __name__ == "__main__":
    main()

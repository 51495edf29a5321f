"""The request parser in-process: microseconds per parse, this checkout against a baseline.

    python bench/parser.py [--baseline main] [--pairs 15] [--parses 20000]

The baseline is checked out into a temporary `git worktree` (removed afterwards)
and imported under another package name, so both parsers run in this one process.
Each pair is a candidate round then a baseline round, in that order; a round times
`--parses` parses of one request with the process's CPU clock (steadier than wall
time on a shared machine) and gives microseconds per parse. Printed: the median of
the rounds with min-max and quartiles, and the median of the per-pair ratios.

A parse is what the server does per request: a new RequestParser, feed() the bytes,
next_event() for the head and again for END. "+ fields" also reads every header
field, since kali now splits fields into pairs only when they are first read.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent

# What ab sends (HTTP/1.0, three fields) and what Chromium sends for a page (sixteen fields).
AB = (b"GET /hello HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n")
CHROME = (
    b"GET /tasks?view=all HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive\r\n"
    b"sec-ch-ua: \"Chromium\";v=\"130\", \"Not?A_Brand\";v=\"99\"\r\nsec-ch-ua-mobile: ?0\r\n"
    b"sec-ch-ua-platform: \"Linux\"\r\nUpgrade-Insecure-Requests: 1\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/130.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"image/apng,*/*;q=0.8\r\n"
    b"Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-User: ?1\r\n"
    b"Sec-Fetch-Dest: document\r\nReferer: http://127.0.0.1:8080/\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: session=abc123; theme=dark\r\n\r\n")


def load_kali(root: Path, name: str) -> ModuleType:
    """`root`/kali imported as package `name` (its relative imports stay inside it); returns its http module."""
    spec = importlib.util.spec_from_file_location(name, root / "kali" / "__init__.py",
                                                  submodule_search_locations=[str(root / "kali")])
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.http")


def parse_once(http: ModuleType, raw: bytes, read_fields: bool) -> Callable[[], Any]:
    parser_class, end = http.RequestParser, http.END

    def run() -> Any:
        parser = parser_class(max_body_size=4 << 30)
        parser.feed(raw)
        head = parser.next_event()
        if parser.next_event() is not end:
            raise AssertionError("the request did not end")
        if read_fields:
            head.headers.items()
        return head
    return run


def round_us(run: Callable[[], Any], parses: int) -> float:
    started = time.process_time()
    for _ in range(parses):
        run()
    return (time.process_time() - started) / parses * 1e6


def spread(values: list[float]) -> str:
    q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return f"{median:6.2f}  ({min(values):.2f}-{max(values):.2f}, IQR {q1:.2f}-{q3:.2f})"


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--baseline", default="main", help="git ref to compare against (default main)")
    options.add_argument("--pairs", type=int, default=15, help="interleaved pairs (at least 10; default 15)")
    options.add_argument("--parses", type=int, default=20000, help="parses per round (default 20000)")
    args = options.parse_args()
    if args.pairs < 10:
        options.error("a figure is the median of at least 10 pairs")
    folder = Path(tempfile.mkdtemp(prefix="kali-bench-parser-"))
    baseline_root = folder / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(baseline_root),
                    args.baseline], check=True)
    try:
        commit = subprocess.run(["git", "-C", str(baseline_root), "rev-parse", "--short", "HEAD"],
                                check=True, capture_output=True, text=True).stdout.strip()
        candidate, baseline = load_kali(REPO, "kali_candidate"), load_kali(baseline_root, "kali_baseline")
        print(f"Python {sys.version.split()[0]}; candidate {REPO}, baseline {args.baseline} ({commit}); "
              f"{args.pairs} pairs of {args.parses} parses; CPU microseconds per parse")
        for label, raw in (("3 fields (ab)", AB), ("16 fields (Chromium)", CHROME)):
            for read_fields in (False, True):
                new = parse_once(candidate, raw, read_fields)
                old = parse_once(baseline, raw, read_fields)
                if new().method != old().method:
                    raise AssertionError("the two parsers disagree")
                new_us: list[float] = []
                old_us: list[float] = []
                for _ in range(args.pairs):
                    new_us.append(round_us(new, args.parses))
                    old_us.append(round_us(old, args.parses))
                ratios = [n / o for n, o in zip(new_us, old_us)]
                name = label + (" + fields" if read_fields else "")
                print(f"\n{name}")
                print(f"  new  {spread(new_us)}")
                print(f"  old  {spread(old_us)}")
                print(f"  new/old per pair: median {statistics.median(ratios):.2f} "
                      f"({min(ratios):.2f}-{max(ratios):.2f})")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline_root)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

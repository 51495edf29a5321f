"""CSV export benchmark: 1,000,000 rows from SQLite through Response.csv, and the server's memory meanwhile.

Each round starts a fresh kali server process (so its peak-memory mark starts
clean) on a database of 1,000,000 rows made once in a temporary folder, asks
it for one tiny page (so the idle figure includes everything a request loads),
reads VmRSS from /proc/PID/status, downloads the export over loopback
(counting bytes and lines), then reads VmHWM (the resident high-water mark)
and the server's CPU time from /proc/PID/stat.

- candidate: `Response.csv(db.execute("SELECT ..."), filename=...)`: rows
  pulled from the cursor as the socket takes them;
- baseline: what an app does without it: `fetchall()`, the whole file written
  with the csv module into a string, sent as one body.

Rounds are interleaved pairs (candidate, baseline); each figure is the median
of ROUNDS pairs with min-max and quartiles.

    python bench/csv_export.py [--rounds 10] [--rows 1000000]      # Linux only (reads /proc)
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SERVER = textwrap.dedent("""
    import csv, io, sys
    sys.path.insert(0, sys.argv[1])
    from kali import Response, Router, serve_http
    from kali.sqlite import open_database

    db = open_database(sys.argv[2], backups=0)
    app = Router()
    QUERY = "SELECT id, name, email, born, notes FROM person ORDER BY id"

    @app.function("/ping")
    def ping(request):
        return "pong"

    @app.function("/streamed.csv")
    def streamed(request):
        return Response.csv(db.execute(QUERY), filename="people.csv")

    @app.function("/buffered.csv")
    def buffered(request):
        rows = db.execute(QUERY).fetchall()
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\\r\\n")
        writer.writerow(["id", "name", "email", "born", "notes"])
        writer.writerows(rows)
        return Response(text.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")

    serve_http(app, port=int(sys.argv[3]), start=None, access_log=False)
""")


def make_database(path: Path, rows: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT, email TEXT, born TEXT, notes TEXT)")
    db.executemany("INSERT INTO person VALUES (?, ?, ?, ?, ?)",
                   ((n, f"Person number {n}", f"person{n}@example.org", f"{1950 + n % 60}-0{1 + n % 9}-1{n % 9}",
                     "likes \"quotes\", commas" if n % 7 == 0 else "") for n in range(1, rows + 1)))
    db.commit()
    db.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(port: int, path: str) -> tuple[int, int]:
    """Download `path`; (bytes, lines)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", path)
        reply = connection.getresponse()
        assert reply.status == 200, reply.status
        size = lines = 0
        while True:
            block = reply.read(1 << 20)
            if not block:
                break
            size += len(block)
            lines += block.count(b"\n")
        return size, lines
    finally:
        connection.close()


def one_round(database: Path, path: str) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(REPO), str(database), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                get(port, "/ping")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: {proc.stderr.read() if proc.stderr else ''}")
                time.sleep(0.05)
        before = status_kib(proc.pid, "VmRSS")
        cpu_before = cpu_seconds(proc.pid)
        started = time.perf_counter()
        size, lines = get(port, path)
        seconds = time.perf_counter() - started
        peak = status_kib(proc.pid, "VmHWM")
        after = status_kib(proc.pid, "VmRSS")
        cpu = cpu_seconds(proc.pid) - cpu_before
        return {"before": before / 1024, "peak": peak / 1024, "after": after / 1024,
                "growth": (peak - before) / 1024, "seconds": seconds, "cpu": cpu,
                "mib": size / (1 << 20), "lines": lines}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def summary(values: list[float], digits: int = 1) -> str:
    values = sorted(values)
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return (f"{median:8.{digits}f}  (min {values[0]:.{digits}f}, q1 {q1:.{digits}f}, q3 {q3:.{digits}f}, "
            f"max {values[-1]:.{digits}f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        raise SystemExit("this benchmark reads /proc (Linux)")
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "people.sqlite3"
        print(f"making {args.rows:,} rows ...", flush=True)
        make_database(database, args.rows)
        results: dict[str, list[dict[str, float]]] = {"streamed": [], "buffered": []}
        for n in range(args.rounds):
            for name in ("streamed", "buffered"):
                result = one_round(database, f"/{name}.csv")
                assert result["lines"] == args.rows + 1, result
                results[name].append(result)
            print(f"round {n + 1}: streamed +{results['streamed'][-1]['growth']:.1f} MiB, "
                  f"buffered +{results['buffered'][-1]['growth']:.1f} MiB", flush=True)
    print(f"\n{args.rows:,} rows, {results['streamed'][0]['mib']:.1f} MiB of CSV; median of {args.rounds} "
          f"interleaved pairs (Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version})\n")
    for name, label in (("streamed", "Response.csv(cursor)"), ("buffered", "fetchall + one body")):
        rounds = results[name]
        print(f"{label}")
        print(f"  RSS before, MiB        {summary([r['before'] for r in rounds])}")
        print(f"  peak RSS (VmHWM), MiB  {summary([r['peak'] for r in rounds])}")
        print(f"  RSS after, MiB         {summary([r['after'] for r in rounds])}")
        print(f"  peak growth, MiB       {summary([r['growth'] for r in rounds])}")
        print(f"  download, s            {summary([r['seconds'] for r in rounds], 2)}")
        print(f"  server CPU, s          {summary([r['cpu'] for r in rounds], 2)}")


if __name__ == "__main__":
    main()

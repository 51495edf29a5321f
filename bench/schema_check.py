"""Schema drift check benchmark: what `open_database(schema=...)` spends comparing the datebook's database with its schema.

The database is examples/datebook.sql with 1,000 contacts, 2,000 appointments
and 2,000 tasks in a temporary folder. Two figures, each the median of ROUNDS
interleaved pairs with min-max and quartiles:

- open: `open_database(file, schema=datebook.sql, backups=0)` with the check
  (candidate) and with `check_schema=False` (baseline), then `close()`; the
  difference of the medians is what the check adds to start-up;
- check alone: `kali.migrations.check_schema` on an open connection (it runs
  the schema in a fresh in-memory database and compares the two), timed in
  the same loop as one call of the baseline's `PRAGMA user_version`.

    python bench/schema_check.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kali.migrations import check_schema, load_sql  # noqa: E402
from kali.sqlite import open_database  # noqa: E402

SCHEMA = REPO / "examples" / "datebook.sql"


def fill(path: Path) -> None:
    db = open_database(path, schema=SCHEMA, backups=0)
    with db:
        db.executemany("INSERT INTO contact (name, email) VALUES (?, ?)",
                       [(f"Person {n}", f"p{n}@example.org") for n in range(1000)])
        db.executemany("INSERT INTO appointment (contact_id, day, starts, title) VALUES (?, ?, '09:00', ?)",
                       [(1 + n % 1000, f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}", f"Meeting {n}") for n in range(2000)])
        db.executemany("INSERT INTO task (title, contact_id) VALUES (?, ?)",
                       [(f"Task {n}", 1 + n % 1000) for n in range(2000)])
    db.close()


def summary(values: list[float]) -> str:
    values = sorted(values)
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return f"{median:7.3f} ms  (min {values[0]:.3f}, q1 {q1:.3f}, q3 {q3:.3f}, max {values[-1]:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "datebook.sqlite3"
        fill(path)
        checked: list[float] = []
        unchecked: list[float] = []
        for _ in range(args.rounds):
            for check, times in ((True, checked), (False, unchecked)):
                started = time.perf_counter()
                open_database(path, schema=SCHEMA, check_schema=check, backups=0).close()
                times.append((time.perf_counter() - started) * 1000)

        schema = load_sql(SCHEMA, "schema")
        db = open_database(path, backups=0)
        alone: list[float] = []
        pragma: list[float] = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            check_schema(db, schema, database_name=str(path), version=0)
            alone.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            db.execute("PRAGMA user_version").fetchone()
            pragma.append((time.perf_counter() - started) * 1000)
        db.close()
    print(f"datebook schema ({SCHEMA.name}), median of {args.rounds} interleaved pairs "
          f"(Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version})\n")
    print(f"open_database, check on      {summary(checked)}")
    print(f"open_database, check off     {summary(unchecked)}")
    print(f"  the check adds             {statistics.median(checked) - statistics.median(unchecked):7.3f} ms "
          f"(difference of the medians)")
    print(f"check_schema alone           {summary(alone)}")
    print(f"PRAGMA user_version (scale)  {summary(pragma)}")


if __name__ == "__main__":
    main()

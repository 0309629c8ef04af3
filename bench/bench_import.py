"""Bench: `import_file` throughput on synthetic BulkExport day files and a CSV export.

    .venv/bin/python bench/bench_import.py [--lines 100000 [1000000 ...]] [--runs 5] [--failure-rate 0.05]

For each size: writes a gzip JSON-lines day file of realistic records (bodies included, ~5%
failed/undelivered), then imports it `runs` times into fresh stores (median and p99-of-runs
lines/s), once more into the same store (the idempotent re-import), and a same-size CSV once.
Peak RSS is this process's ru_maxrss. Not a test: run by hand, copy the figures to docs/design.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import resource
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.importer import import_file
from storage.db import open_db

CODES = ((30007, "undelivered"), (21610, "failed"), (30003, "undelivered"), (30006, "undelivered"))


def records(lines: int, failure_rate: float):
    rng = random.Random(lines)
    for i in range(lines):
        code, status = rng.choice(CODES) if rng.random() < failure_rate else (None, "delivered")
        yield {
            "account_sid": "AC" + "5" * 32, "sid": f"SM{i:032x}", "messaging_service_sid": "MG" + "6" * 32,
            "from": "+12025550100", "to": f"+1202555{100 + i % 100:04d}",
            "body": "Hi Sam, this is a reminder of your appointment tomorrow at 10:30. Reply C to confirm.",
            "status": status, "error_code": code, "direction": "outbound-api", "num_segments": "1", "num_media": "0",
            "price": "-0.00790", "date_created": "2026-01-14T10:00:00Z", "date_sent": "2026-01-14T10:00:01Z",
            "date_updated": "2026-01-14T10:05:00Z",
        }


def write_files(folder: Path, lines: int, failure_rate: float) -> tuple[Path, Path]:
    day, log = folder / f"day-{lines}.json.gz", folder / f"log-{lines}.csv"
    with gzip.open(day, "wb", compresslevel=6) as out:
        for r in records(lines, failure_rate):
            out.write(json.dumps(r).encode() + b"\n")
    with open(log, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Sid", "From", "To", "Body", "Status", "SentDate", "ErrorCode", "AccountSid", "Direction"])
        for r in records(lines, failure_rate):
            writer.writerow([r["sid"], r["from"], r["to"], r["body"], r["status"], r["date_sent"],
                             r["error_code"] or "", r["account_sid"], r["direction"]])
    return day, log


def bench(lines: int, runs: int, failure_rate: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        day, log = write_files(folder, lines, failure_rate)
        rates, report = [], None
        for run in range(runs):
            db = open_db(folder / f"run{run}.db")
            report = import_file(db, day, progress=False)
            rates.append(report.lines / report.seconds)
            if run < runs - 1:
                db.close()
        again = import_file(db, day, progress=False)
        db.close()
        csv_db = open_db(folder / "csv.db")
        csv_report = import_file(csv_db, log, progress=False)
        csv_db.close()
    rates.sort()
    print(f"== {lines:,} lines, {report.failures:,} failures, {runs} runs")
    print(f"day file import   : median {statistics.median(rates):,.0f} lines/s, slowest run {rates[0]:,.0f} lines/s "
          f"(aim: >= 100,000)")
    print(f"re-import (no-op) : {again.lines / again.seconds:,.0f} lines/s "
          f"({again.unchanged:,} unchanged, {again.inserted} new)")
    print(f"CSV import        : {csv_report.lines / csv_report.seconds:,.0f} lines/s "
          f"({csv_report.inserted:,} failures)")
    print(f"peak RSS so far   : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--failure-rate", type=float, default=0.05)
    args = parser.parse_args()
    for lines in args.lines:
        bench(lines, args.runs, args.failure_rate)


if __name__ == "__main__":
    main()

"""Benchmark: build (queries + report) and render the digest over a store of 1M failures.

    .venv/bin/python bench/bench_digest.py [--rows 1000000] [--days 30] [--runs 30] [--db PATH]

Makes a synthetic store (fixed seed; reused when --db already holds it): `--rows` failures spread
over `--days` days, 4 accounts, 60 codes with a skewed mix, 200k recipients. Then times, for
the 24 h digest and the 7 d one, `build_report` (every query plus the report) and rendering
(Block Kit + Teams card + plain text), prints median / p99 / max, the peak RSS of the process,
and the EXPLAIN QUERY PLAN of each digest query. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import percentile
from bot.emit import slack, teams, text
from jobs.digest import build_report
from jobs.views.digest import digest_view
from storage.db import open_db

DAY = 86_400
CODES = [30007, 30003, 21610, 30006, 30008, 30005, 21614, 30034, 30004, 21211, 21635, 30024, 30032, 30033,
         11200, 11751, 21408, 21606, 21612, 21661, 30002, 30011, 30023, 30037] + list(range(30100, 30136))
ACCOUNTS = ["AC" + f"{i:x}" * 32 for i in range(1, 5)]


def populate(db, rows: int, days: int, end: int, seed: int = 7) -> None:
    """Fill the store up to `rows` failures. True when it wrote any."""
    have = db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
    if have >= rows:
        return False
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(CODES))]
    start = end - days * DAY
    batch = []
    db.execute("BEGIN")
    for n in range(have, rows):
        sent = rng.randrange(start, end)
        code = rng.choices(CODES, weights)[0]
        batch.append((f"SM{n:032x}", rng.choice(ACCOUNTS), None, "+15559990000", f"+1555{rng.randrange(200_000):07d}",
                      "undelivered", code, sent, sent, sent, "import"))
        if len(batch) == 50_000:
            db.conn.executemany("INSERT INTO failures VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
            batch.clear()
    if batch:
        db.conn.executemany("INSERT INTO failures VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    return True


def time_it(fn, runs: int) -> list[float]:
    fn()  # warm the page cache and the knowledge base
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def show(label: str, ms: list[float]) -> str:
    return (f"{label:<34} median {statistics.median(ms):7.1f} ms   p99 {percentile(ms, 0.99):7.1f} ms   "
            f"max {max(ms):7.1f} ms   (n={len(ms)})")


def plans(db, build) -> list[str]:
    """The EXPLAIN QUERY PLAN of every statement one build runs against `failures`."""
    seen: dict[str, list] = {}
    real = type(db).execute

    def spy(self, sql, params=None):
        if "FROM failures" in sql and sql not in seen:
            seen[sql] = params
        return real(self, sql, params)

    type(db).execute = spy
    try:
        build()
    finally:
        type(db).execute = real
    return [f"  {' '.join(sql.split())[:90]}…\n    -> "
            + "; ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in seen.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "smserror-bench-digest.db"))
    args = parser.parse_args()

    end = 1_773_057_600  # fixed, so a reused store means the same windows
    db = open_db(args.db)
    t0 = time.perf_counter()
    if populate(db, args.rows, args.days, end):
        db.close()  # measure in a fresh process, so peak RSS is the digest's, not the generator's
        os.execv(sys.executable, [sys.executable, *sys.argv, "--db", args.db])
    total = db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
    print(f"store: {args.db}: {total:,} failures over {args.days} days (ready in {time.perf_counter() - t0:.1f} s)")
    tz = ZoneInfo("America/New_York")
    for seconds, label in ((DAY, "24 h"), (7 * DAY, "7 days")):
        def build(seconds=seconds, label=label):
            return build_report(db, end - seconds, end, tz=tz, period="bench", title="bench", window_label=label,
                                now=end)

        report = build()
        in_window = report.total

        def render(report=report):
            view = digest_view(report.to_dict())
            slack.blocks(view)
            teams.card(view)
            text.text(digest_view(report.to_dict(), full=True))

        def both():
            view = digest_view(build().to_dict())
            slack.blocks(view)
            teams.card(view)

        print(f"window {label}: {in_window:,} failures, {len(report.codes)} codes, "
              f"{report.hygiene.recipients:,} hygiene recipients")
        print(show("  build (queries + report)", time_it(build, args.runs)))
        print(show("  render (blocks + card + text)", time_it(render, args.runs)))
        print(show("  build + render (Slack + Teams)", time_it(both, args.runs)))
    print("query plans (24 h build):")
    print("\n".join(plans(db, lambda: build_report(db, end - DAY, end, tz=tz, period="b", title="b",
                                                     window_label="24 h", now=end))))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"peak RSS: {rss / 1024:.0f} MiB")
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

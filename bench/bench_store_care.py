"""Benchmark: `smserror backup` and the retention job on a store of 1M failures, each with a
writer committing beside it (what callbacks do while `run` is up).

    .venv/bin/python bench/bench_store_care.py [--rows 1000000] [--days 120] [--db PATH]

The store is bench_digest's generator over `--days` days (reused when --db holds it). The
writer commits one failure every 5 ms on its own connection, in this process, through the same
write lock as `run`'s threads. Prints the backup's time and size, retention's rows, time and
per-batch lock time (90 days kept), and the writer's commit latency during each. The retention
run works on the backup, and the writer's rows leave the store: it is reused as it was. Not a
test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_digest import populate
from bench.common import percentile
from storage import retention
from storage.backup import backup
from storage.db import open_db, transaction

END = 1_773_057_600


class Writer(threading.Thread):
    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.stopping, self.latencies = path, threading.Event(), []

    def run(self) -> None:
        db, n = open_db(self.path), 0
        while not self.stopping.is_set():
            start = time.perf_counter()
            with transaction(db):
                db.execute("INSERT INTO failures VALUES (?, 'ACbench', NULL, NULL, NULL, 'failed', 30008, ?, ?, ?,"
                           " 'callback')", (f"SMwriter{n:024x}", END, END, END))
            self.latencies.append((time.perf_counter() - start) * 1000)
            n += 1
            time.sleep(0.005)
        db.close()

    def stop(self) -> str:
        self.stopping.set()
        self.join()
        ms = self.latencies
        return (f"{len(ms)} commits beside it: p50 {percentile(ms, 0.5):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms,"
                f" max {max(ms):.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "smserror-bench-care.db"))
    args = parser.parse_args()
    store, copy = Path(args.db), Path(args.db).with_suffix(".backup.db")
    db = open_db(store)
    populate(db, args.rows, args.days, END)
    db.close()

    writer = Writer(store)
    writer.start()
    start = time.perf_counter()
    size = backup(store, copy)
    took = time.perf_counter() - start
    print(f"backup: {size / 1e6:.0f} MB in {took:.2f} s; {writer.stop()}")
    db = open_db(store)
    with transaction(db):  # the store as it was, for the next run
        db.execute("DELETE FROM failures WHERE account_sid = 'ACbench'")
    db.close()

    db = open_db(copy)
    held: list[float] = []

    @contextlib.contextmanager
    def timed_transaction(db):  # the write lock is held from BEGIN to the end of COMMIT
        start = time.perf_counter()
        with transaction(db):
            yield db
        held.append((time.perf_counter() - start) * 1000)

    retention.transaction = timed_transaction
    writer = Writer(copy)
    writer.start()
    start = time.perf_counter()
    deleted = retention.prune(db, retention.cutoff_for(END, 90))
    took = time.perf_counter() - start
    beside = writer.stop()
    print(f"retention (90 days): {deleted['failures']:,} failures in {took:.2f} s, {len(held)} transactions,"
          f" each holding the lock p50 {percentile(held, 0.5):.1f} ms, max {max(held):.1f} ms; {beside}")
    db.close()
    copy.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""smserror demo: offline, no credentials. Imports the bundled synthetic BulkExport day file into
a temporary store, then prints the digest and the alerts the bot would post, as `run` would build
them (the same pipeline, with stdout as the only destination)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bot.destinations import StdoutDestination
from bot.pipeline import Pipeline
from bot.settings import Settings
from jobs.digest import run_window_digest
from jobs.importer import load_demo
from storage.db import LocalDb
from storage.failures import failures_between

DAY = 86400


def add_parser(sub):
    return sub.add_parser("demo",
                          help="offline demo on a bundled synthetic export: the digest and alerts it would post")


def run(args) -> int:
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="smserror-demo-") as folder:
        settings = Settings(db_path=str(Path(folder) / "demo.db"))
        pipeline = Pipeline(settings, LocalDb(settings.db_path), destinations=[StdoutDestination()],
                            clock=lambda: now)
        db = pipeline.store.get()
        report = load_demo(db, now)
        print(f"Imported the bundled demo day: {report.lines} messages, {report.failures} failures "
              f"(synthetic data, moved to the last 24 h). Nothing leaves this machine.\n")
        _banner("The morning digest")
        run_window_digest(db, settings.tz, DAY, "24h", pipeline.destinations, now=now, rules=pipeline.rules)
        _banner("Real-time alerts")
        # as if each failure had just been seen by a poll, oldest first
        pipeline.observe(failures_between(db, now - DAY, now + 1), now)
        delivery = pipeline.deliver()
        if not delivery.sent:
            print("(none: no account-level failure and no spike)")
        db.close()
    print("\nExplain any code with: smserror lookup CODE")
    return 0


def _banner(title: str) -> None:
    print(f"━━ {title} " + "━" * max(0, 60 - len(title)))

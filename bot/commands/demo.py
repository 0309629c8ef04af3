"""smserror demo: offline, no credentials. Imports the bundled synthetic BulkExport day file into
a temporary store and prints what it found, per error code."""

from __future__ import annotations

import tempfile
from pathlib import Path

from jobs.importer import load_demo
from storage.db import open_db
from storage.failures import count_by_code


def add_parser(sub):
    return sub.add_parser("demo", help="offline demo on a bundled synthetic export (no credentials needed)")


def run(args) -> int:
    with tempfile.TemporaryDirectory(prefix="smserror-demo-") as folder:
        db = open_db(Path(folder) / "demo.db")
        try:
            report = load_demo(db)
            summary = count_by_code(db)
        finally:
            db.close()
    print(f"Imported the bundled demo day file: {report.lines} messages, {report.failures} failures "
          f"(synthetic data, moved to the last 24 h).")
    print(f"{'code':>6}  {'failures':>8}  {'accounts':>8}")
    for code, failures, accounts in summary:
        print(f"{code:>6}  {failures:>8}  {accounts:>8}")
    print("Explain a code with: smserror lookup CODE")
    return 0

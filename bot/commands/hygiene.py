"""smserror hygiene: recipients to take off the practice's lists (opted out, landline, invalid,
inactive), from the failures of the last 30 days (--since).

Without --csv it prints a summary with masked numbers. `--csv FILE` (or `--csv` / `--csv -`
for stdout) writes the full list -- FULL phone numbers -- for the operator's own use: the file
is created readable by its owner only. Never paste it into a channel.
"""

from __future__ import annotations

import os
import sys
import time

from bot.digest_text import hygiene_line
from bot.settings import Settings
from bot.commands.digest import since_arg
from jobs.digest import hygiene_summary
from jobs.hygiene import hygiene_rows, write_csv
from storage.db import open_db


def add_parser(sub):
    parser = sub.add_parser("hygiene", help="recipients to remove from your lists; --csv writes the full list")
    parser.add_argument("--since", default="30d", type=since_arg(366), metavar="WINDOW",
                        help="how far back: e.g. 24h, 7d, 90d, up to 366d (default 30d)")
    parser.add_argument("--csv", nargs="?", const="-", metavar="FILE",
                        help="write number, reason, code, last seen, count (FULL numbers) to FILE, or stdout")
    return parser


def run(args) -> int:
    seconds, label = args.since
    settings = Settings.from_env()
    db = open_db(settings.db_path)
    end = int(time.time())
    try:
        if args.csv:
            return _write(args.csv, hygiene_rows(db, end - seconds, end))
        summary = hygiene_summary(db, end - seconds, end)
    finally:
        db.close()
    print(f"Last {label}: {hygiene_line(summary.__dict__)}")
    for example in summary.examples:
        print(f"  {example['number']}  {example['reason']} ({example['code']})")
    if summary.recipients:
        print("Full list (full numbers, for your own use): smserror hygiene --csv FILE")
    return 0


def _write(path: str, rows) -> int:
    if path == "-":
        written = write_csv(rows, sys.stdout)
    else:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # full numbers: owner only
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
                written = write_csv(rows, stream)
        except OSError as exc:
            print(f"smserror: cannot write the CSV file {path!r}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    print(f"hygiene: {written} rows with full numbers (keep them to yourself) to {'stdout' if path == '-' else path}",
          file=sys.stderr)
    return 0

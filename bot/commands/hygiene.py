"""smserror hygiene: recipients to take off the practice's lists (opted out, landline, invalid,
inactive) and numbers to correct (wrong format or a typo), from the failures of the last 30 days
(--since).

Without --csv it prints a summary with masked numbers. `--csv FILE` (or `--csv` / `--csv -`
for stdout) writes the full list -- FULL phone numbers -- for the operator's own use: the file
is created readable by its owner only. Never paste it into a channel.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
from collections.abc import Callable
from typing import TextIO

from bot.commands.digest import since_arg
from bot.settings import Settings
from jobs.digest import hygiene_summary
from jobs.hygiene import hygiene_rows, write_csv
from jobs.views.digest import hygiene_line
from storage.db import open_db
from storage.digest_queries import account_names


def add_parser(sub):
    parser = sub.add_parser("hygiene", help="recipients to remove from your lists; --csv writes the full list")
    parser.add_argument("--since", default="30d", type=since_arg(366), metavar="WINDOW",
                        help="how far back: e.g. 24h, 7d, 90d, up to 366d (default 30d)")
    parser.add_argument("--csv", nargs="?", const="-", metavar="FILE",
                        help="write number, reason, code, last seen, count, account SID and name, action "
                        "(FULL numbers) to FILE, or stdout")
    return parser


def run(args) -> int:
    seconds, label = args.since
    settings = Settings.from_env()
    db = open_db(settings.db_path)
    end = int(time.time())
    try:
        if args.csv:
            rows, names = hygiene_rows(db, end - seconds, end), account_names(db)
            return write_full_numbers(args.csv, lambda stream: write_csv(rows, stream, names))
        summary = hygiene_summary(db, end - seconds, end)
    finally:
        db.close()
    print(f"Last {label}: {hygiene_line(summary.__dict__)}")
    for example in summary.examples:
        print(f"  {example['number']}  {example['reason']} ({example['code']})")
    if summary.recipients or summary.to_correct:
        print("Full list (full numbers, for your own use): smserror hygiene --csv FILE")
    return 0


def write_full_numbers(path: str, write: Callable[[TextIO], int]) -> int:
    """`write` a CSV with full numbers to `path` (mode 0600) or, for "-", stdout; the exit status."""
    if path == "-":
        written = write(sys.stdout)
    else:
        try:
            with _private_file(path) as stream:
                written = write(stream)
        except OSError as exc:
            symlink = exc.errno == errno.ELOOP and os.path.islink(path)
            reason = "it is a symbolic link (give the real path)" if symlink else exc.strerror or exc
            print(f"smserror: cannot write the CSV file {path!r}: {reason}", file=sys.stderr)
            return 2
    print(f"smserror: {written} rows with full numbers (keep them to yourself) to {'stdout' if path == '-' else path}",
          file=sys.stderr)
    return 0


def _private_file(path: str):
    """The file opened for writing with mode 0600, also when it already exists (O_CREAT's mode
    applies to new files only). A symlink is refused (ELOOP) rather than followed: the full
    numbers would land, and its target be re-moded, wherever it points."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # not a device or FIFO: chmod of /dev/null is not ours to do
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        raise

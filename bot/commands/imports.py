"""smserror import FILE...: BulkExport day files (gzip JSON lines) and message-log CSV exports."""

from __future__ import annotations

import sys

from bot.settings import Settings
from jobs.importer import import_file
from storage.db import open_db


def add_parser(sub):
    parser = sub.add_parser(
        "import", help="ingest Twilio BulkExport Messages day files (.json.gz) and message-log CSV exports"
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="a BulkExport day file or a CSV export")
    return parser


def run(args) -> int:
    settings = Settings.from_env()
    db = open_db(settings.db_path)
    failed = 0
    try:
        for path in args.files:
            report = import_file(db, path)
            if report.error:
                failed += 1
                print(f"smserror: {report.line()}", file=sys.stderr)
            else:
                print(report.line())
    finally:
        db.close()
    return 1 if failed else 0

"""smserror backup FILE: an online, consistent copy of the store (safe while `run` is up),
written with mode 0600: like the store, it holds full phone numbers."""

from __future__ import annotations

import sys

from bot.settings import Settings
from storage.backup import BackupError, backup


def add_parser(sub):
    parser = sub.add_parser("backup", help="an online, consistent copy of the store (safe while run is up)")
    parser.add_argument("file", metavar="FILE", help="where to write the copy (replaced if it exists)")
    return parser


def run(args) -> int:
    settings = Settings.from_env()
    try:
        size = backup(settings.db_path, args.file)
    except BackupError as exc:
        print(f"smserror: {exc}", file=sys.stderr)
        return 2
    print(f"backup: SMSERROR_DB {settings.db_path!r} copied to {args.file!r} ({size / 1e6:,.1f} MB, mode 0600; "
          "it holds full phone numbers: keep it as private as the store)")
    return 0

"""smserror evidence: the examples Support asks for, by the help article's rule for each code (its
window, its status, one per contact where it wants contacts), up to now.

Without --csv it prints them as the digest shows them, numbers masked. `--csv FILE` (or `--csv`
/ `--csv -` for stdout) writes them with FULL numbers, for the operator's own use: for 30007
Support wants contact links, and the CRM Inbox finds a contact by number. The file is created
readable by its owner only, as hygiene's is. Never paste it into a channel.
"""

from __future__ import annotations

import argparse
import time

from bot.commands.hygiene import write_full_numbers
from bot.settings import Settings
from jobs.digest import evidence_entry, evidence_rows
from jobs.hygiene import write_evidence_csv
from jobs.views.digest import evidence_line
from storage import knowledge
from storage.db import open_db

NO_WINDOW_DAYS = 30  # where the article names no age limit (30024), look this far back


def _code(text: str) -> int:
    card = knowledge.get(text)
    if card is None or card.evidence is None:
        codes = ", ".join(map(str, knowledge.evidence_codes()))
        raise argparse.ArgumentTypeError(f"{text!r}: Support asks for examples only for {codes}")
    return card.code


def add_parser(sub):
    parser = sub.add_parser("evidence", help="the examples Support asks for (message IDs; contacts for 30007); "
                                             "--csv writes them with full numbers")
    parser.add_argument("codes", nargs="*", type=_code, metavar="CODE",
                        help="only these codes (default: every code Support asks examples for)")
    parser.add_argument("--csv", nargs="?", const="-", metavar="FILE",
                        help="write code, number, message ID, status, sent at, account (FULL numbers) "
                             "to FILE, or stdout")
    return parser


def run(args) -> int:
    codes = list(dict.fromkeys(args.codes)) or list(knowledge.evidence_codes())
    rules = {code: rule for code in codes if (card := knowledge.get(code)) and (rule := card.evidence)}
    settings = Settings.from_env()
    db = open_db(settings.db_path)
    end = int(time.time())
    start = end - NO_WINDOW_DAYS * 86_400
    try:
        if args.csv:
            rows = [(code, row) for code, rule in rules.items() for row in evidence_rows(db, code, rule, start, end)[2]]
            return write_full_numbers(args.csv, lambda stream: write_evidence_csv(rows, stream))
        entries = {code: evidence_entry(db, code, rule, start, end) for code, rule in rules.items()}
    finally:
        db.close()
    for code, entry in entries.items():
        print(f"{code} · {evidence_line(entry.__dict__)}")
        for example in entry.examples:
            print(f"  {example['sid']}  to {example['to']}")
    print("With full numbers (for your own use, e.g. to find contacts in the Inbox): smserror evidence CODE --csv FILE")
    return 0

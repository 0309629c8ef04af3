"""smserror digest: build the failure digest for the last 24 h (or --since 6h / 7d) and post it
to every configured destination (Slack, Teams; stdout when neither is set); --dry-run prints it
instead, --json prints the report itself."""

from __future__ import annotations

import argparse
import json
import sys

from bot.destinations import build_destinations
from bot.emit.text import text
from bot.settings import Settings
from jobs.digest import build_window_report, parse_since, run_window_digest
from jobs.rules import load_rules
from jobs.views.digest import digest_view
from storage.db import open_db


def since_arg(max_days: int = 31):
    """argparse type for --since: bad input ends as one usage line and exit 2."""

    def parse(text: str) -> tuple[int, str]:
        try:
            return parse_since(text, max_days)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("--since ")) from None

    return parse


def add_parser(sub):
    parser = sub.add_parser("digest", help="build the failure digest (last 24 h by default) and post it")
    parser.add_argument("--since", default="24h", type=since_arg(31), metavar="WINDOW",
                        help="how far back: hours or days such as 6h, 24h, 7d (default 24h)")
    parser.add_argument("--dry-run", action="store_true", help="print the digest instead of posting it")
    parser.add_argument("--json", action="store_true", help="with --dry-run: print the report as JSON")
    return parser


def run(args) -> int:
    seconds, label = args.since
    settings = Settings.from_env()
    printing = args.dry_run or args.json
    destinations = [] if printing else build_destinations(settings)  # refuses before the store is touched
    db = open_db(settings.db_path)
    try:
        if printing:
            report = build_window_report(db, seconds, label, settings.tz)
            if args.json:
                print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
            else:
                sys.stdout.write(text(digest_view(report.to_dict(), full=True)))
            return 0
        outcome = run_window_digest(db, settings.tz, seconds, label, destinations,
                                    rules=load_rules(settings.rules_path))
    finally:
        db.close()
    delivery = outcome.delivery
    print(f"digest: {outcome.report.total:,} failures in the last {label}, "
          f"{len(outcome.report.codes)} codes; {delivery.summary()}", file=sys.stderr)
    if delivery.errors and not delivery.sent:
        print("smserror: the digest is queued but could not be posted yet; `smserror run` retries it",
              file=sys.stderr)
        return 1
    return 0

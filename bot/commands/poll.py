"""smserror poll --once: one ingest pass over every configured Twilio account, then deliver
whatever alerts are due; prints counts."""

from __future__ import annotations

import sys

from bot.destinations import build_destinations
from bot.pipeline import Pipeline
from bot.settings import Settings
from jobs.twilio_client import make_client
from storage.db import LocalDb


def add_parser(sub):
    parser = sub.add_parser("poll", help="one ingest pass over every configured Twilio account (--once)")
    parser.add_argument("--once", action="store_true", help="run one pass now and print what it saw")
    return parser


def run(args) -> int:
    if not args.once:
        print("smserror: poll needs --once; use `smserror run` to poll on a schedule", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    if not settings.twilio_configured:  # named before the store is touched
        make_client(settings.twilio)
    destinations = build_destinations(settings)  # so is a destination that is half set up
    pipeline = Pipeline(settings, LocalDb(settings.db_path), destinations=destinations)
    report = pipeline.poll()
    for line in report.lines():
        print(line)
    print(f"total: {len(report.new_failures)} new failures, {report.requests} requests")
    print(f"alerts: {pipeline.deliver().summary()}")
    if report.auth_failed:
        error = next((a.error for a in report.accounts if a.auth_failed), None) or report.error
        print(f"smserror: {error}", file=sys.stderr)
        return 2
    if not report.ok:
        print("smserror: the pass did not complete for every account; its state is unchanged, rerun to retry",
              file=sys.stderr)
        return 1
    return 0

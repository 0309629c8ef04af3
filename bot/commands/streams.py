"""smserror streams setup [--dry-run] | status: Twilio Event Streams in the main account and
every configured subaccount; one line per account (the logic is in jobs/streams.py)."""

from __future__ import annotations

import functools
import sys
import time

from bot.settings import Settings
from bot.twilio_events import EVENTS_PATH
from jobs import streams
from jobs.twilio_client import make_client
from storage.db import LocalDb
from storage.poll_state import record_streams


def add_parser(sub):
    parser = sub.add_parser(
        "streams", help="Twilio Event Streams: set up or check each account's sink and subscription",
        description="Twilio pushes failed and undelivered message events to SMSERROR_PUBLIC_URL/twilio/events "
        "through a webhook sink and a subscription in each account (the main one and TWILIO_SUBACCOUNTS).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    setup = actions.add_parser(
        "setup", help="create (or reuse) the sink and the subscription in every account; idempotent",
        description="Create or reuse a webhook sink posting to SMSERROR_PUBLIC_URL/twilio/events and its "
        "subscription to failed and undelivered messages, in every account. A sink Twilio has not made "
        "active is validated with the test event the running `smserror run` receives.",
    )
    setup.add_argument("--dry-run", action="store_true", help="say what it would do, change nothing")
    setup.add_argument("--wait", type=float, default=20.0, metavar="SECONDS",
                       help="how long to wait for Twilio's test event when a sink needs validating (default 20)")
    actions.add_parser("status", help="each account's sink and subscription, and whether it is active")
    return parser


def run(args) -> int:
    settings = Settings.from_env()
    problem = _missing(settings, args.action)
    if problem:
        print(f"smserror: {problem}", file=sys.stderr)
        return 2
    if args.action == "setup" and not 0 <= args.wait <= 600:
        print("smserror: --wait must be between 0 and 600 seconds", file=sys.stderr)
        return 2
    destination = settings.public_url + EVENTS_PATH
    main = make_client(settings.twilio)
    outcome = streams.Outcome()
    accounts = streams.accounts(settings, main,
                                lambda sid, token: make_client(settings.twilio, as_account=(sid, token)), outcome)
    store = functools.cache(lambda: LocalDb(settings.db_path))
    if args.action == "status":
        streams.status(accounts, destination, outcome)
    else:
        tests = None if args.dry_run else streams.SinkTests(lambda: store().get(), args.wait)
        streams.setup(accounts, destination, tests, outcome)
    for line in outcome.lines:
        print(line)
    if not getattr(args, "dry_run", False):  # what the poller needs: which accounts only want the hourly sweep
        record_streams(store().get(), outcome.active, int(time.time()))
    return 0 if outcome.ok else 1


def _missing(settings: Settings, action: str) -> str | None:
    if not settings.public_url:
        return ("streams needs SMSERROR_PUBLIC_URL: the public base URL where Twilio reaches `smserror run` "
                "(the sinks post to it + /twilio/events)")
    if not settings.twilio_configured:
        return "streams needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)"
    if action == "setup" and not settings.twilio_auth_token:
        return ("streams setup needs TWILIO_AUTH_TOKEN: Twilio signs each account's Event Streams deliveries with "
                "its auth token, and `smserror run` checks them with it")
    return None

"""smserror run: the service. HTTP server in the main thread, scheduler beside it."""

from __future__ import annotations

import logging
import signal
import sys

from bot.service import Service
from bot.settings import Settings

log = logging.getLogger("smserror.run")


def add_parser(sub):
    return sub.add_parser(
        "run",
        help="the service: HTTP server + scheduler (stops cleanly on SIGTERM/SIGINT)",
        description="Serve /slack/events, /teams/messages, /twilio/status and /healthz on PORT, poll Twilio "
        "every SMSERROR_POLL_SECONDS and post the digest daily at SMSERROR_DIGEST_AT.",
    )


def run(args) -> int:
    settings = Settings.from_env()
    missing = settings.missing_for_run()
    if missing:
        print(f"smserror: run needs {' and '.join(missing)} (set it in the environment or .env)", file=sys.stderr)
        return 2
    service = Service(settings)
    signal.signal(signal.SIGTERM, _stop)
    service.start()
    log.info("smserror listening on %s", service.url)
    try:
        service.serve_forever()
    finally:
        service.stop()
    log.info("smserror stopped")
    return 0


def _stop(signum, frame) -> None:
    # waitress's loop treats SystemExit like Ctrl-C: it stops accepting and drains its threads
    raise SystemExit(0)

"""smserror run: the service. HTTP server in the main thread, scheduler beside it."""

from __future__ import annotations

import errno
import logging
import signal
import sys

from bot.server import ListenError
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
    try:
        service = Service(settings)
    except ListenError as err:
        print(f"smserror: {_cannot_listen(err, settings)}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    service.start()
    log.info("smserror listening on %s", service.url)
    try:
        service.serve_forever()
    finally:
        service.stop()
    log.info("smserror stopped")
    return 0


def _cannot_listen(err: ListenError, settings: Settings) -> str:
    if err.errno == errno.EADDRINUSE:
        return f"PORT {settings.port} is already in use (set PORT to a free port)"
    if err.errno == errno.EACCES:
        return f"PORT {settings.port} needs privileges this user lacks (set PORT to 1024 or above)"
    return f"cannot listen on SMSERROR_HOST {settings.host} and PORT {settings.port}: {err}"


def _stop(signum, frame) -> None:
    # waitress's loop treats SystemExit like Ctrl-C: it stops accepting and drains its threads
    raise SystemExit(0)

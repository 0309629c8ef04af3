"""`smserror`: one console command, one module per subcommand under bot/commands/.

Each command module has `add_parser(subparsers)` and `run(args) -> int`. Errors a person can fix
(bad configuration, a store that will not open) end as one line on stderr and exit 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from bot.commands import backup, demo, digest, doctor, evidence, hygiene, imports, lookup, poll, run, streams
from bot.settings import ConfigError, Settings, read_dotenv
from storage.db import StoreError, describe_error
from storage.privacy import mask_numbers_in_log

COMMANDS = (lookup, poll, digest, imports, demo, run, hygiene, evidence, streams, backup, doctor)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's default prints usage + exits 2; keep it to one line
        self.exit(2, f"smserror: {message} (see smserror --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smserror", description="Explain Twilio SMS error codes; digest and alert on failures.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    parser.add_argument("--version", action="version", version=f"smserror {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(handler=command.run)
    return parser


def _version() -> str:
    try:
        return metadata.version("smserror")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class MaskNumbers(logging.Filter):
    """Masks phone numbers in every record a handler writes, tracebacks included. Our own code
    logs none, but libraries dump whole payloads at DEBUG (`-v`): slack_sdk's Socket Mode client
    logs every envelope, with whatever a user typed after /smserror."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers_in_log(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_numbers_in_log(record.exc_text)
        return True


class JsonLines(logging.Formatter):
    """SMSERROR_LOG_FORMAT=json: one JSON object per line (time, level, logger, message and, for
    an error, its traceback), built after MaskNumbers has done its work."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


LOG_FORMATS = {"text": logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"), "json": JsonLines()}
# Libraries that say at INFO what smserror says better, once: APScheduler's "Running job" twice a
# poll, waitress's and urllib3's connection chatter, the SDKs' request lines.
QUIET = ("apscheduler", "waitress", "urllib3", "twilio", "slack_sdk", "slack_bolt")


def configure_logging(verbose: bool = False, log_format: str = "text") -> None:
    """Log to stderr in `log_format` (unless logging is set up already), every handler masking numbers."""
    root = logging.getLogger()
    if not root.handlers:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(LOG_FORMATS[log_format])
        root.addHandler(stderr)
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in root.handlers:
        if not any(isinstance(f, MaskNumbers) for f in handler.filters):
            handler.addFilter(MaskNumbers())
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    # slack_sdk logs an ERROR for every failed call it then raises; whoever catches it logs it once
    logging.getLogger("slack_sdk.web.base_client").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def log_format(environ: dict[str, str] | None = None, dotenv: Path | None = Path(".env")) -> str:
    """SMSERROR_LOG_FORMAT (text or json), from the environment or .env."""
    env = os.environ if environ is None else environ
    value = env.get("SMSERROR_LOG_FORMAT") or (read_dotenv(dotenv).get("SMSERROR_LOG_FORMAT", "") if dotenv else "")
    value = value.strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise ConfigError(f"SMSERROR_LOG_FORMAT must be text or json, got {value!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    # a terminal that cannot encode "—" or "•" gets "?" instead of a UnicodeEncodeError
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    try:
        configure_logging(args.verbose, log_format())
        return args.handler(args)
    except (ConfigError, StoreError) as exc:
        print(f"smserror: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # the store went bad under a command that had opened it
        print(f"smserror: {describe_error(_store_name(), exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader hung up early (`smserror demo | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _store_name() -> str:
    try:
        return Settings.from_env().db_path
    except ConfigError:
        return Settings.db_path


if __name__ == "__main__":
    sys.exit(main())

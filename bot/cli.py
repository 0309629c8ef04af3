"""`smserror`: one console command, one module per subcommand under bot/commands/.

Each command module has `add_parser(subparsers)` and `run(args) -> int`. Errors a person can fix
(bad configuration, a store that will not open) end as one line on stderr and exit 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from importlib import metadata
from typing import NoReturn

from bot.commands import demo, digest, evidence, hygiene, imports, lookup, poll, run, streams
from bot.settings import ConfigError, Settings
from storage.db import StoreError, describe_error
from storage.privacy import mask_numbers_in_log

COMMANDS = (lookup, poll, digest, imports, demo, run, hygiene, evidence, streams)


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


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr (unless logging is set up already), every handler masking numbers."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskNumbers) for f in handler.filters):
            handler.addFilter(MaskNumbers())
    # APScheduler says "Adding job" and "Running job" at INFO: twice a poll, thousands a day
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    # a terminal that cannot encode "—" or "•" gets "?" instead of a UnicodeEncodeError
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
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

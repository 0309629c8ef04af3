"""smserror doctor: checks the configuration against the real services, one line per item:
✔ what holds, ✘ what does not, with the fix below it. Nothing is posted or changed.

Exit 0 when every item holds, 1 when a check fails, 2 when a setting cannot be read at all
(every such setting is named, and the rest is checked with its default).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from slack_sdk.errors import SlackApiError
from twilio.base.exceptions import TwilioException

from bot.destinations import slack_client
from bot.settings import ConfigError, Settings, read_dotenv
from bot.twilio_events import EVENTS_PATH
from bot.twilio_status import STATUS_PATH
from jobs.scheduler import next_digest
from jobs.twilio_client import TwilioAuthError, describe_error, make_client
from storage.db import BUSY_TIMEOUT_MS
from storage.db import describe_error as describe_store_error
from storage.migrations import MIGRATIONS

# The bot scopes manifest.yml asks for (tests/test_manifest.py holds them equal), each used here:
REQUIRED_SCOPES = frozenset({
    "commands",           # /smserror
    "chat:write",         # digests, alerts, thread replies, ephemeral answers
    "chat:write.public",  # posting in SLACK_CHANNEL before anyone invites the bot
    "channels:history",   # finding a post by its metadata after a crash, instead of posting twice
    "groups:history",     # the same in a private channel
    "channels:read",      # smserror doctor: the channel exists and the bot is in it
    "groups:read",        # the same for a private channel
})
ENDPOINTS = (STATUS_PATH, EVENTS_PATH, "/slack/events", "/teams/messages")
_WORKFLOWS_PATH = re.compile(r"/workflows/[^/]+/triggers/manual/paths/invoke")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Check:
    item: str
    ok: bool
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        head = f"{'✔' if self.ok else '✘'} {self.item}: {self.detail}"
        return [head] if self.ok or not self.fix else [head, f"  → {self.fix}"]


def add_parser(sub):
    return sub.add_parser(
        "doctor", help="check the configuration against Slack, Twilio, Teams and the store (✔ / ✘ per item)",
        description="Checks every configured service for real (Slack auth.test, scopes, the channel; Twilio "
        "credentials and subaccounts; the Teams webhook's shape; the store; the settings) and says how to fix "
        "what fails. Posts nothing. Exit 0 when everything holds, 1 when a check fails, 2 when a setting "
        "cannot be read.")


def run(args) -> int:
    settings, unreadable = read_settings()
    named = {check.item for check in unreadable}  # a default stands in for these: nothing to say of it
    if "SMSERROR_TIMEZONE" in named:  # nor of a digest time read in the wrong zone
        named.add("SMSERROR_DIGEST_AT")
    checks = unreadable + [check for check in settings_checks(settings) if check.item not in named]
    checks.append(store_check(settings.db_path))
    if settings.slack_bot_token:
        checks += slack_checks(settings)
    if settings.twilio_configured:
        checks += twilio_checks(settings)
    if settings.teams_webhook_url:
        checks.append(teams_check(settings.teams_webhook_url))
    for check in checks:
        for line in check.lines():
            print(line)
    failed = [check for check in checks if not check.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed" if failed else
          f"all {len(checks)} checks passed")
    return 2 if unreadable else (1 if failed else 0)


def read_settings(environ: dict[str, str] | None = None, dotenv: Path | None = Path(".env")
                  ) -> tuple[Settings, list[Check]]:
    """The settings, and a failed check per setting that cannot be read: each is dropped (its
    default stands in) and the rest read again, so one bad value hides no other."""
    unreadable: list[Check] = []
    env: dict[str, str] = {}
    try:
        env.update(read_dotenv(dotenv) if dotenv else {})
    except ConfigError as exc:
        unreadable.append(Check(".env", False, str(exc), "fix or remove the .env file"))
    env.update(os.environ if environ is None else environ)
    while True:
        try:
            return Settings.from_env(env, dotenv=None), unreadable
        except ConfigError as exc:
            name = re.match(r"[A-Z][A-Z0-9_]*", str(exc))
            if not name or name[0] not in env:
                unreadable.append(Check("Settings", False, str(exc), "correct it in the environment or .env"))
                return Settings(), unreadable
            unreadable.append(Check(name[0], False, str(exc)[len(name[0]):].strip(),
                                    "correct it in the environment or .env"))
            del env[name[0]]


# -- settings and store ----------------------------------------------------------------------

def settings_checks(s: Settings) -> list[Check]:
    now = datetime.now(s.tz)
    digest = next_digest(now, s.digest_at, s.tz)
    checks = [public_url_check(s.public_url),
              Check("SMSERROR_TIMEZONE", True, f"{s.timezone}: it is {now:%H:%M} there now"),
              Check("SMSERROR_DIGEST_AT", True, f"{s.digest_at:%H:%M}: the next digest is due "
                                                f"{digest:%Y-%m-%d %H:%M} {s.timezone}")]
    missing = s.missing_for_run()
    if missing:
        checks.append(Check("smserror run", False, f"needs {' and '.join(missing)}",
                            f"set {' and '.join(missing)} in the environment or .env"))
    else:
        serves = [name for name, on in (("Slack", s.slack_bot_token), ("Teams", s.teams_webhook_url or
                                        s.teams_outgoing_secret), ("Twilio", s.twilio_configured)) if on]
        checks.append(Check("smserror run", True, f"has what it needs ({', '.join(serves)})"))
    return checks


def public_url_check(url: str) -> Check:
    if not url:
        return Check("SMSERROR_PUBLIC_URL", True, "not set: Twilio's signatures are checked against the Host "
                                                  "header, which is right only with no proxy in front")
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    endpoint = next((e for e in ENDPOINTS if path.endswith(e)), None)
    if endpoint:
        return Check("SMSERROR_PUBLIC_URL", False, f"ends with {endpoint}: every callback would be checked "
                                                   f"against {url}{STATUS_PATH} and refused",
                     f"set it to the base URL only: {base}{path[:-len(endpoint)]}")
    if parts.query or parts.fragment:
        return Check("SMSERROR_PUBLIC_URL", False, "has a query or a fragment",
                     f"set it to the base URL only, such as {base}")
    return Check("SMSERROR_PUBLIC_URL", True, f"Twilio is expected to call {url}{STATUS_PATH} and {url}{EVENTS_PATH}")


def store_check(path: str) -> Check:
    """Writable, and at a schema this smserror knows; read only, so a store is neither created
    nor migrated here (`run` does both at start)."""
    store, known = Path(path), len(MIGRATIONS)
    folder = store.parent if str(store.parent) else Path(".")
    if not store.exists():
        if os.access(folder if folder.exists() else folder.parent, os.W_OK):
            return Check("Store", True, f"SMSERROR_DB {path} does not exist yet: smserror run creates it")
        return Check("Store", False, f"SMSERROR_DB {path} cannot be created: its folder is not writable",
                     "set SMSERROR_DB to a path in a folder this user can write")
    if store.is_dir():
        return Check("Store", False, f"SMSERROR_DB {path} is a directory", "set SMSERROR_DB to a file path")
    try:
        conn = sqlite3.connect(f"file:{quote(str(store))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("Store", False, describe_store_error(path, exc), "restore a backup (smserror backup makes one)")
    if not (os.access(store, os.W_OK) and os.access(folder, os.W_OK)):
        return Check("Store", False, f"SMSERROR_DB {path} or its folder is not writable",
                     "let the user running smserror write the file and its folder (SQLite writes beside it)")
    if version > known:
        return Check("Store", False, f"SMSERROR_DB {path} is at schema {version}, newer than this smserror ({known})",
                     "upgrade smserror, or restore a backup taken before the upgrade")
    state = "current" if version == known else f"smserror run migrates it to {known} at start"
    return Check("Store", True, f"SMSERROR_DB {path} is writable, schema {version} ({state})")


# -- Slack -----------------------------------------------------------------------------------

def slack_checks(s: Settings) -> list[Check]:
    client = slack_client(s)
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else f"HTTP {exc.response.status_code}"
        return [Check("Slack token", False, f"Slack refused SLACK_BOT_TOKEN ({error})",
                      "set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) under OAuth & Permissions")]
    except OSError as exc:
        return [Check("Slack token", False, f"Slack cannot be reached at SLACK_API_URL ({type(exc).__name__})",
                      "check this host's network access to Slack (proxy, firewall, DNS) and SLACK_API_URL")]
    checks = [Check("Slack token", True, f"accepted: bot {auth.get('user') or auth.get('user_id')} in "
                                         f"{auth.get('team') or auth.get('team_id')}")]
    headers = {name.lower(): value for name, value in (auth.headers or {}).items()}
    granted = {scope.strip() for scope in headers.get("x-oauth-scopes", "").split(",") if scope.strip()}
    missing = sorted(REQUIRED_SCOPES - granted)
    checks.append(Check("Slack scopes", not missing, f"missing {', '.join(missing)}" if missing else
                        f"all {len(REQUIRED_SCOPES)} granted",
                        "add them under OAuth & Permissions (manifest.yml lists them), then reinstall the app"))
    if s.slack_channel:
        checks += channel_checks(s.slack_channel, lambda: client.conversations_info(channel=s.slack_channel))
    return checks


def channel_checks(channel_id: str, info: Callable) -> list[Check]:
    try:
        channel = info()["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else f"HTTP {exc.response.status_code}"
        return [Check("Slack channel", False, f"SLACK_CHANNEL {channel_id} cannot be read ({error})",
                      "set SLACK_CHANNEL to the channel's ID (channel details, at the bottom: C…); for a private "
                      "channel, invite the bot first")]
    except OSError as exc:
        return [Check("Slack channel", False, f"Slack cannot be reached ({type(exc).__name__})",
                      "check this host's network access to Slack")]
    name = f"#{channel.get('name') or channel_id}"
    checks = [Check("Slack channel", True, f"SLACK_CHANNEL {channel_id} is {name}")]
    if channel.get("is_archived"):
        checks.append(Check("Slack posting", False, f"{name} is archived", "unarchive it, or set SLACK_CHANNEL"))
    elif not channel.get("is_member"):
        checks.append(Check("Slack posting", False, f"the bot is not a member of {name}",
                            f"type /invite @smserror in {name}"))
    else:
        checks.append(Check("Slack posting", True, f"the bot is a member of {name}"))
    return checks


# -- Twilio ----------------------------------------------------------------------------------

def twilio_checks(s: Settings) -> list[Check]:
    client = make_client(s.twilio, max_attempts=1)
    try:
        account = client.api.v2010.accounts(s.twilio_account_sid).fetch()
    except (TwilioException, TwilioAuthError, OSError) as exc:
        return [Check("Twilio credentials", False, describe_error(exc), _twilio_fix(exc))]
    checks = [Check("Twilio credentials", True, f"accepted for {s.twilio_account_sid} ({account.friendly_name})")]
    mode = s.subaccount_mode
    if mode == "":
        checks.append(Check("Twilio subaccounts", True, "TWILIO_SUBACCOUNTS is empty: the main account only"))
        return checks
    try:
        if mode == "all":
            listed = client.api.v2010.accounts.list(status="active")
            others = [a for a in listed if a.sid != s.twilio_account_sid]
            checks.append(Check("Twilio subaccounts", True, f"{len(others)} active subaccounts are listed and polled"))
            return checks
        found = {sid: client.api.v2010.accounts(sid).fetch() for sid in mode}
    except (TwilioException, TwilioAuthError, OSError) as exc:
        checks.append(Check("Twilio subaccounts", False, f"cannot be listed: {describe_error(exc)}", _twilio_fix(exc)))
        return checks
    inactive = [sid for sid, a in found.items() if a.status != "active"]
    checks.append(Check("Twilio subaccounts", not inactive,
                        f"not active: {', '.join(inactive)}" if inactive else f"all {len(found)} listed are active",
                        "take them out of TWILIO_SUBACCOUNTS, or reactivate them in the Twilio console"))
    return checks


def _twilio_fix(exc: BaseException) -> str:
    if isinstance(exc, TwilioAuthError):
        return "set TWILIO_AUTH_TOKEN to the account's current auth token (or TWILIO_API_KEY and TWILIO_API_SECRET)"
    if getattr(exc, "status", None) == 404:
        return "check TWILIO_ACCOUNT_SID and TWILIO_SUBACCOUNTS: each SID must belong to these credentials"
    return "check TWILIO_API_URL and this host's network access to Twilio (proxy, firewall, DNS)"


# -- Teams -----------------------------------------------------------------------------------

def teams_check(url: str) -> Check:
    """The URL's shape only: posting to it would put a card in the channel. Never printed (its
    sig= is the secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if "webhook.office.com" in host:
        return Check("Teams webhook", False, "TEAMS_WEBHOOK_URL is an Office 365 connector URL: Microsoft retired them",
                     "create a Workflows webhook (Workflows → Post to a channel when a webhook request is received) "
                     "and set TEAMS_WEBHOOK_URL to its URL")
    secure = parts.scheme == "https" or host in _LOOPBACK
    signed = "sig=" in parts.query
    if not (secure and _WORKFLOWS_PATH.search(parts.path) and signed):
        return Check("Teams webhook", False,
                     f"TEAMS_WEBHOOK_URL (on {host}) does not look like a Workflows webhook URL "
                     "(https, …/workflows/…/triggers/manual/paths/invoke?…&sig=…)",
                     "copy the URL again from the workflow's trigger, whole")
    return Check("Teams webhook", True, f"TEAMS_WEBHOOK_URL is a Workflows webhook URL on {host}")


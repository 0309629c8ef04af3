"""Settings, read once from the environment (and a `.env` file in the working directory).

Every outside endpoint is a setting, which is also how the tests point the bot at local fakes.
A bad value raises ConfigError naming the variable; the CLI turns that into exit code 2.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from jobs.config import ConfigError, TwilioConfig


@dataclass(frozen=True)
class Settings:
    # secrets are left out of repr(), so a logged or printed Settings never shows them
    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_channel: str = ""
    slack_app_token: str = field(default="", repr=False)
    slack_api_url: str = "https://slack.com/api/"
    slack_timeout: float = 10.0
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_api_key: str = ""
    twilio_api_secret: str = field(default="", repr=False)
    twilio_api_url: str = "https://api.twilio.com"
    twilio_events_url: str = "https://events.twilio.com"
    twilio_subaccounts: str = ""
    twilio_timeout: float = 15.0
    twilio_concurrency: int = 8
    teams_webhook_url: str = field(default="", repr=False)
    teams_outgoing_secret: str = field(default="", repr=False)
    db_path: str = "smserror.db"
    timezone: str = "UTC"
    digest_at: time = time(8, 0)
    poll_seconds: int = 60
    lookback_hours: int = 24
    public_url: str = ""
    port: int = 3000
    host: str = "0.0.0.0"
    rules_path: str = ""
    leader_ttl: float = 30.0
    retention_days: int = 90
    stale_after: int = 900  # seconds reading Twilio (or delivering) may keep failing before smserror says so

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token and self.slack_channel)

    @property
    def twilio(self) -> TwilioConfig:
        """What the Twilio client and the poller take (jobs/ do not read Settings)."""
        return TwilioConfig(
            account_sid=self.twilio_account_sid, auth_token=self.twilio_auth_token, api_key=self.twilio_api_key,
            api_secret=self.twilio_api_secret, api_url=self.twilio_api_url, events_url=self.twilio_events_url,
            timeout=self.twilio_timeout, concurrency=self.twilio_concurrency,
            subaccounts=self.subaccount_mode, lookback_hours=self.lookback_hours)

    @property
    def twilio_configured(self) -> bool:
        return self.twilio.configured

    @property
    def subaccount_mode(self) -> str | list[str]:
        """'' for the main account only, 'all' for every active subaccount, else a list of SIDs."""
        raw = self.twilio_subaccounts.strip()
        if raw.lower() == "all":
            return "all"
        return [sid.strip() for sid in raw.split(",") if sid.strip()] if raw else ""

    @property
    def lacks_channel(self) -> bool:
        """Slack credentials are set but there is nowhere to post: no SLACK_CHANNEL and no other
        destination. Digests and alerts would go to stdout and count as sent, seen by nobody."""
        slack_credentials = self.slack_bot_token or self.slack_signing_secret or self.slack_app_token
        return bool(slack_credentials) and not (self.slack_channel or self.teams_webhook_url)

    def missing_for_run(self) -> list[str]:
        """Settings `smserror run` cannot serve without. A partial setup is fine (Teams only,
        Twilio callbacks only), but half a Slack setup, or nothing at all to serve, is not.
        Slack reaches the bot through /slack/events (SLACK_SIGNING_SECRET) or Socket Mode
        (SLACK_APP_TOKEN), or both; either way it needs the bot token, and a channel to post in."""
        slack_way_in = self.slack_signing_secret or self.slack_app_token
        if not (slack_way_in or self.slack_bot_token or self.teams_outgoing_secret or self.twilio_configured):
            return ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]
        missing = []
        if self.slack_bot_token and not slack_way_in:
            missing.append("SLACK_SIGNING_SECRET")
        if slack_way_in and not self.slack_bot_token:
            missing.append("SLACK_BOT_TOKEN")
        if self.lacks_channel:
            missing.append("SLACK_CHANNEL")
        return missing

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
        env = dict(read_dotenv(dotenv)) if dotenv else {}
        env.update(os.environ if environ is None else environ)

        def get(name: str, default: str = "") -> str:
            return env.get(name, default).strip()

        settings = cls(
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_channel=get("SLACK_CHANNEL"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=_url(get("SLACK_API_URL", cls.slack_api_url), "SLACK_API_URL", slash=True),
            slack_timeout=_number(get("SMSERROR_SLACK_TIMEOUT", "10"), "SMSERROR_SLACK_TIMEOUT", float, 1, 120),
            twilio_account_sid=get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            twilio_api_key=get("TWILIO_API_KEY"),
            twilio_api_secret=get("TWILIO_API_SECRET"),
            twilio_api_url=_url(get("TWILIO_API_URL", cls.twilio_api_url), "TWILIO_API_URL").rstrip("/"),
            twilio_events_url=_url(get("TWILIO_EVENTS_URL", cls.twilio_events_url), "TWILIO_EVENTS_URL").rstrip("/"),
            twilio_subaccounts=get("TWILIO_SUBACCOUNTS"),
            twilio_timeout=_number(get("SMSERROR_TWILIO_TIMEOUT", "15"), "SMSERROR_TWILIO_TIMEOUT", float, 1, 300),
            twilio_concurrency=_number(get("SMSERROR_TWILIO_CONCURRENCY", "8"), "SMSERROR_TWILIO_CONCURRENCY",
                                       int, 1, 64),
            teams_webhook_url=_url(get("TEAMS_WEBHOOK_URL"), "TEAMS_WEBHOOK_URL") if get("TEAMS_WEBHOOK_URL") else "",
            teams_outgoing_secret=get("TEAMS_OUTGOING_SECRET"),
            db_path=get("SMSERROR_DB", cls.db_path) or cls.db_path,
            timezone=_zone(get("SMSERROR_TIMEZONE", "UTC") or "UTC"),
            digest_at=_clock(get("SMSERROR_DIGEST_AT", "08:00") or "08:00"),
            poll_seconds=_number(get("SMSERROR_POLL_SECONDS", "60"), "SMSERROR_POLL_SECONDS", int, 5, 86400),
            lookback_hours=_number(get("SMSERROR_LOOKBACK_HOURS", "24"), "SMSERROR_LOOKBACK_HOURS", int, 1, 24 * 30),
            public_url=(_url(get("SMSERROR_PUBLIC_URL"), "SMSERROR_PUBLIC_URL").rstrip("/")
                        if get("SMSERROR_PUBLIC_URL") else ""),
            port=_number(get("PORT", "3000"), "PORT", int, 0, 65535),
            host=get("SMSERROR_HOST", "0.0.0.0") or "0.0.0.0",
            rules_path=get("SMSERROR_RULES"),
            leader_ttl=_number(get("SMSERROR_LEADER_TTL", "30"), "SMSERROR_LEADER_TTL", float, 3, 45),
            # at least 8: the spike baseline and the digest's trend read the 7 days before the last hour/day
            retention_days=_number(get("SMSERROR_RETENTION_DAYS", "90"), "SMSERROR_RETENTION_DAYS", int, 8, 3650),
            stale_after=_duration(get("SMSERROR_STALE_AFTER", "15m") or "15m", "SMSERROR_STALE_AFTER", 60, 7 * 86400),
        )
        if settings.retention_days * 24 <= settings.lookback_hours:
            raise ConfigError(f"SMSERROR_RETENTION_DAYS ({settings.retention_days}) must be longer than "
                              f"SMSERROR_LOOKBACK_HOURS ({settings.lookback_hours} h): a poll re-reads that far "
                              "back and would store again the failures retention deleted")
        if settings.twilio_account_sid and not re.fullmatch(r"AC[0-9a-fA-F]{32}", settings.twilio_account_sid):
            raise ConfigError("TWILIO_ACCOUNT_SID must look like AC followed by 32 hex characters")
        if settings.teams_outgoing_secret:
            _base64(settings.teams_outgoing_secret, "TEAMS_OUTGOING_SECRET")
        if settings.slack_app_token and not re.fullmatch(r"xapp-\S+", settings.slack_app_token):
            # the value is a secret (or another one pasted by mistake): never echoed
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp- "
                              "(Basic Information → App-Level Tokens, scope connections:write)")
        settings.subaccount_mode  # noqa: B018 - validates early
        return settings


def read_dotenv(path: Path) -> dict[str, str]:
    """The usual dotenv rules, by python-dotenv: quotes stripped, `export ` allowed, a ` # comment`
    after an unquoted value dropped. No ${VAR} expansion: values are taken literally, as a secret
    containing `$` must be, and a .env value must not change with whatever the shell exports."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f".env could not be read: {exc}") from None
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value for key, value in values.items() if value is not None}  # a bare `NAME` line sets nothing


def _url(value: str, name: str, slash: bool = False) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value if not slash or value.endswith("/") else value + "/"


def _number(value: str, name: str, kind: type, low: float, high: float):
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value!r}")
    return number


def _duration(value: str, name: str, low: int, high: int) -> int:
    """Seconds from "90s", "15m", "2h" or a bare number of seconds."""
    match = re.fullmatch(r"(\d{1,7})\s*([smh]?)", value)
    if not match:
        raise ConfigError(f"{name} must be a duration such as 15m, 90s or 1h, got {value!r}")
    seconds = int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    if not low <= seconds <= high:
        raise ConfigError(f"{name} must be at least {low}s and at most {high // 86400} days, got {value!r}")
    return seconds


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"SMSERROR_TIMEZONE must be an IANA zone such as Europe/London, got {value!r}") from None
    return value


def _clock(value: str) -> time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value)
    if not match:
        raise ConfigError(f"SMSERROR_DIGEST_AT must be HH:MM (24-hour), got {value!r}")
    return time(int(match[1]), int(match[2]))


def _base64(value: str, name: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} must be the base64 security token Teams shows") from None

"""Alert rules: which codes alert, when, how often and where. Defaults here; an optional TOML
file (setting SMSERROR_RULES) overrides any of them. See docs/alerts.md for the format.

A bad file raises ConfigError naming the file and the problem; the CLI turns that into exit 2.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jobs.config import ConfigError

HOUR = 3600

# Every send of a kind fails until someone acts (the account, a campaign or registration, a
# sending number, the brand's daily cap, a country's sender registration, the picture domain):
# alert on the first sighting. docs/alerts.md gives the reason for each code.
ACCOUNT_CODES = frozenset({30002, 30023, 30032, 30033, 30034, 30037,
                           21606, 21661, 30024, 30027, 30035, 11200})
# One patient's number or one carrier's verdict: only a spike alerts; single failures go to the digest.
SPIKE_CODES = frozenset({21610, 30003, 30004, 30005, 30006, 30007, 30008})
CATEGORIES = ("account", "contact", "carrier", "media", "other")
MENTIONS = {"here": "<!here>", "channel": "<!channel>", "none": ""}
# what an alert's Snooze menu offers, beside the rules' own `snooze`
SNOOZE_CHOICES = (HOUR, 4 * HOUR, 24 * HOUR, 7 * 24 * HOUR)


@dataclass(frozen=True)
class Rules:
    account_codes: frozenset[int] = ACCOUNT_CODES
    spike_codes: frozenset[int] = SPIKE_CODES
    spike_factor: float = 3.0          # last hour >= factor x the hourly baseline …
    spike_min_count: int = 20          # … and at least this many in the last hour
    baseline_days: int = 7
    repeat_interval: int = 4 * HOUR    # no new top-level post for a group before this
    update_interval: int = 5 * 60      # at most one thread reply per group per this (edits always)
    resolve_after: int = 2 * HOUR      # quiet this long -> "resolved" note
    snooze: int = 24 * HOUR            # offered in the Snooze menu too, and what an old Snooze button mutes for
    max_age: int = 24 * HOUR           # older failures (late imports, backfills) never alert
    mention: str = "here"              # for account-level alerts: here | channel | none
    examples: int = 10                 # message SIDs shown by "Show examples"
    channels: dict[str, str] = field(default_factory=dict)  # category -> Slack channel ID
    source: str = "defaults"

    def kind_of(self, code: int) -> str | None:
        """'account' (alert at once), 'spike' (alert on a spike) or None (digest only)."""
        if code in self.account_codes:
            return "account"
        if code in self.spike_codes:
            return "spike"
        return None

    def channel_for(self, category: str) -> str | None:
        return self.channels.get(category) or self.channels.get("default") or None

    @property
    def snooze_choices(self) -> tuple[int, ...]:
        """The durations (seconds) the Snooze menu offers, shortest first."""
        return tuple(sorted({*SNOOZE_CHOICES, self.snooze}))

    @property
    def mention_markup(self) -> str:
        return MENTIONS[self.mention]


DEFAULT_RULES = Rules()

# TOML key -> (Rules field, parser)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": HOUR, "d": 24 * HOUR}


def _duration(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{where} must be a duration such as \"4h\", \"30m\" or seconds")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{where} must be a duration such as \"4h\", \"30m\" or seconds, got {value!r}")
        seconds = float(match[1]) * _UNITS[match[2]]
    if not 0 < seconds <= 90 * 24 * HOUR:
        raise ValueError(f"{where} must be more than 0 and at most 90 days, got {value!r}")
    return int(seconds)


def _codes(value: Any, where: str) -> frozenset[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{where} must be a list of error codes (integers), got {value!r}")
    if any(not 10000 <= v <= 99999 for v in value):
        raise ValueError(f"{where} holds a value that is not a Twilio error code: {value!r}")
    return frozenset(value)


def _number(kind: type, low: float, high: float):
    def parse(value: Any, where: str):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{where} must be between {low} and {high}, got {value!r}")
        return kind(value)
    return parse


def _mention(value: Any, where: str) -> str:
    if value not in MENTIONS:
        raise ValueError(f"{where} must be one of {', '.join(MENTIONS)}, got {value!r}")
    return value


def _channels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table of category = \"channel ID\"")
    for key, channel in value.items():
        if key not in (*CATEGORIES, "default"):
            raise ValueError(f"{where}.{key} is not a category (use one of {', '.join(CATEGORIES)}, default)")
        if not isinstance(channel, str) or not re.fullmatch(r"[A-Z0-9]{6,20}", channel):
            raise ValueError(f"{where}.{key} must be a Slack channel ID such as C0123456789, got {channel!r}")
    return dict(value)


_SCHEMA: dict[str, dict[str, tuple[str, Any]]] = {
    "alerts": {
        "account_codes": ("account_codes", _codes),
        "repeat_interval": ("repeat_interval", _duration),
        "update_interval": ("update_interval", _duration),
        "resolve_after": ("resolve_after", _duration),
        "snooze": ("snooze", _duration),
        "max_age": ("max_age", _duration),
        "mention": ("mention", _mention),
        "examples": ("examples", _number(int, 1, 50)),
    },
    "spike": {
        "codes": ("spike_codes", _codes),
        "factor": ("spike_factor", _number(float, 1, 1000)),
        "min_count": ("spike_min_count", _number(int, 1, 1_000_000)),
        "baseline_days": ("baseline_days", _number(int, 1, 90)),
    },
}


def parse_rules(data: dict[str, Any], source: str = "rules") -> Rules:
    """Rules from an already-parsed TOML document; ValueError names the first problem."""
    changes: dict[str, Any] = {"source": source}
    for table, value in data.items():
        if table == "channels":
            changes["channels"] = _channels(value, "channels")
            continue
        if table not in _SCHEMA:
            raise ValueError(f"unknown table [{table}] (known: {', '.join([*_SCHEMA, 'channels'])})")
        if not isinstance(value, dict):
            raise ValueError(f"{table} must be a table ([{table}])")
        for key, raw in value.items():
            if key not in _SCHEMA[table]:
                raise ValueError(f"unknown key {table}.{key} (known: {', '.join(_SCHEMA[table])})")
            name, parse = _SCHEMA[table][key]
            changes[name] = parse(raw, f"{table}.{key}")
    rules = replace(DEFAULT_RULES, **changes)
    overlap = rules.account_codes & rules.spike_codes
    if overlap:
        raise ValueError(f"codes {sorted(overlap)} are in both alerts.account_codes and spike.codes")
    return rules


def load_rules(path: str | Path | None) -> Rules:
    """The defaults when `path` is empty; else the file's rules. Bad file -> ConfigError."""
    if not path:
        return DEFAULT_RULES
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"SMSERROR_RULES file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"SMSERROR_RULES file {str(path)!r} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"SMSERROR_RULES file {str(path)!r} is not valid TOML: {exc}") from None
    try:
        return parse_rules(data, source=str(path))
    except ValueError as exc:
        raise ConfigError(f"SMSERROR_RULES file {str(path)!r}: {exc}") from None

"""Alert rules: which codes alert, when, how often and where. Defaults here; an optional TOML
file (setting SMSERROR_RULES) overrides any of them. See docs/alerts.md for the format, and
docs/fleet.md for `[[routes]]` (a group of accounts' own Slack channel and Teams webhook) and
`[fleet]` (one alert when the same code hits many accounts at once).

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
MINUTE = 60

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
class Route:
    """A group of accounts whose alerts, and their own digest, go to their own destinations."""

    name: str
    accounts: frozenset[str]
    slack_channel: str = ""
    teams_webhook_url: str = field(default="", repr=False)  # holds a signature: never shown
    continues: bool = False  # TOML `continue`: later routes and the default destinations get them too


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
    routes: tuple[Route, ...] = ()
    fleet: bool = False                # a [fleet] table turns fleet alerts on
    fleet_min_accounts: int = 3        # the same code in at least this many accounts …
    fleet_min_per_account: int = 3     # … each with at least this many failures …
    fleet_window: int = 15 * MINUTE    # … within this long
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

    def routes_for(self, account_sid: str) -> tuple[tuple[str, ...], bool]:
        """(the routes an account's alerts go to, whether the default destinations get them too).
        Routes are tried in order and the first match wins; a match with `continue` lets the
        next ones match too, and the default destinations get what no route stopped."""
        names: list[str] = []
        for route in self.routes:
            if account_sid in route.accounts:
                names.append(route.name)
                if not route.continues:
                    return tuple(names), False
        return tuple(names), True

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
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or (kind is int and not isinstance(value, int))):
            raise ValueError(f"{where} must be a number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{where} must be between {low} and {high}, got {value!r}")
        return kind(value)
    return parse


def _mention(value: Any, where: str) -> str:
    if value not in MENTIONS:
        raise ValueError(f"{where} must be one of {', '.join(MENTIONS)}, got {value!r}")
    return value


def _channel_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z0-9]{6,20}", value):
        raise ValueError(f"{where} must be a Slack channel ID such as C0123456789, got {value!r}")
    return value


def _channels(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table of category = \"channel ID\"")
    for key, channel in value.items():
        if key not in (*CATEGORIES, "default"):
            raise ValueError(f"{where}.{key} is not a category (use one of {', '.join(CATEGORIES)}, default)")
        _channel_id(channel, f"{where}.{key}")
    return dict(value)


_ROUTE_KEYS = ("name", "accounts", "slack_channel", "teams_webhook_url", "continue")
_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/")


def _account_sids(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a list of Twilio account SIDs (AC…), got {value!r}")
    for sid in value:
        if not isinstance(sid, str) or not re.fullmatch(r"AC[0-9a-fA-F]{32}", sid):
            raise ValueError(f"{where} holds {sid!r}, which is not an account SID (AC and 32 hex characters)")
    return frozenset("AC" + sid[2:].lower() for sid in value)  # Twilio writes the hex in lower case


def _teams_url(value: Any, where: str) -> str:
    # the URL carries its signature: the message never quotes it
    if not isinstance(value, str) or not (re.fullmatch(r"https://[^/\s]+/\S*", value) or _LOOPBACK.match(value)):
        raise ValueError(f"{where} must be the https:// URL of a Teams Workflows webhook")
    return value


def _route(value: Any, number: int, taken: set[str]) -> Route:
    if not isinstance(value, dict):
        raise ValueError("routes must be an array of tables ([[routes]])")
    name = value.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 80 or not name.isprintable():
        raise ValueError(f"[[routes]] number {number} needs a name (up to 80 printable characters), got {name!r}")
    if name in taken:
        raise ValueError(f"two routes are named {name!r}")
    where = f"route {name!r}"
    for key in value:
        if key not in _ROUTE_KEYS:
            raise ValueError(f"{where}: unknown key {key} (known: {', '.join(_ROUTE_KEYS)})")
    if "slack_channel" not in value and "teams_webhook_url" not in value:
        raise ValueError(f"{where} needs slack_channel or teams_webhook_url (or both)")
    continues = value.get("continue", False)
    if not isinstance(continues, bool):
        raise ValueError(f"{where}: continue must be true or false, got {continues!r}")
    slack, teams = value.get("slack_channel"), value.get("teams_webhook_url")
    return Route(
        name=name,
        accounts=_account_sids(value.get("accounts"), f"{where}: accounts"),
        slack_channel=_channel_id(slack, f"{where}: slack_channel") if slack is not None else "",
        teams_webhook_url=_teams_url(teams, f"{where}: teams_webhook_url") if teams is not None else "",
        continues=continues,
    )


def _routes(value: Any) -> tuple[Route, ...]:
    """The routes, each holding only the accounts it gets: an account listed again after a route
    without `continue` is that route's alone (its alerts and its digest)."""
    if not isinstance(value, list):
        raise ValueError("routes must be an array of tables ([[routes]])")
    routes: list[Route] = []
    taken: set[str] = set()
    for number, table in enumerate(value, 1):
        route = _route(table, number, {r.name for r in routes})
        if not route.accounts - taken:
            raise ValueError(f"route {route.name!r} gets no account: earlier routes without continue = true take "
                             "every one it lists")
        routes.append(replace(route, accounts=route.accounts - taken))
        if not route.continues:
            taken |= route.accounts
    return tuple(routes)


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
    "fleet": {
        "min_accounts": ("fleet_min_accounts", _number(int, 2, 100_000)),
        "min_per_account": ("fleet_min_per_account", _number(int, 1, 1_000_000)),
        "window": ("fleet_window", _duration),
    },
}


def parse_rules(data: dict[str, Any], source: str = "rules") -> Rules:
    """Rules from an already-parsed TOML document; ValueError names the first problem."""
    changes: dict[str, Any] = {"source": source}
    for table, value in data.items():
        if table == "channels":
            changes["channels"] = _channels(value, "channels")
            continue
        if table == "routes":
            changes["routes"] = _routes(value)
            continue
        if table not in _SCHEMA:
            raise ValueError(f"unknown table [{table}] (known: {', '.join([*_SCHEMA, 'channels', 'routes'])})")
        if not isinstance(value, dict):
            raise ValueError(f"{table} must be a table ([{table}])")
        if table == "fleet":
            changes["fleet"] = True
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

"""The failure digest: one report of a window's failures, grouped by code, with what each means,
the first thing to do, the trend, and the evidence Support will ask for.

Data flows one way: the store (storage/digest_queries.py) -> `build_report` -> a DigestReport,
a plain JSON-serialisable dict shape -> the views (jobs/views/digest.py) and their emitters.
Posting goes through the outbox: `enqueue_digest` stores one row per destination,
`jobs.deliver.deliver_due` sends them. The default destinations get the whole fleet's digest,
leading with the accounts that changed most; a route's destinations (`[[routes]]` in the rules)
get the digest of the route's accounts alone.

Entry points:
- `run_due_digest(db, digest_at, tz, destinations, now=None)`: the scheduled digest and the start-up catch-up.
  Sends the period `jobs.scheduler.digest_due` says is due, once (digest_runs), else nothing.
- `run_window_digest(db, tz, seconds, label, destinations, now=None)`: `smserror digest --since …`.

Nothing here holds a full phone number past the queries: recipients are masked on the way in.
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from jobs.deliver import deliver_due
from jobs.rules import DEFAULT_RULES, Route, Rules
from jobs.scheduler import DIGEST_GRACE, DigestPeriod, digest_due
from storage import digest_queries as q
from storage import digest_runs, knowledge, outbox
from storage.db import transaction
from storage.leases import Lease
from storage.privacy import mask_number, mask_numbers_in_text

DIGEST_KIND = "digest"
FIXES_KIND = "digest-fixes"
TREND_DAYS = 7
EVIDENCE_MIN = 3  # the article: "collect 3 or more examples"
HYGIENE_EXAMPLES = 5
CHANGED_ACCOUNTS = 5  # "clinics that changed most", at the top of the fleet's digest
MAX_SINCE_SECONDS = 31 * q.DAY


# ------------------------------------------------------------------ the report


@dataclass
class EvidenceEntry:
    """Examples to hand Support, by the help article's rule for this code: its window, its
    status, and for contact links one example per contact."""

    ask: str  # "3 or more message IDs from the last 24 hours"
    what: str  # what Support asks for: "message IDs" or "contact links"
    needed: int
    window_hours: int | None  # None: the article gives no age limit; the digest window is used
    start: int
    end: int
    examples: list[dict[str, str]]  # {"sid": "SM…", "to": "+1•••••4567"}, newest first
    available: int  # failures (contacts, when `unit` is "contact") that qualify in the window
    unit: str = "message"  # what one example stands for: "message" or "contact"
    status: str | None = None  # only failures with this status count


@dataclass
class CodeEntry:
    code: int
    count: int
    previous: int  # the same-length window just before
    daily: list[int]  # the last 7 days in 24 h buckets, oldest first; the last ends at the window end
    accounts: list[list]  # [[account_sid, count], …], most first
    title: str
    meaning: str
    first_step: str
    category: str
    category_label: str
    docs_url: str
    evidence: EvidenceEntry | None = None
    steps: list[str] = field(default_factory=list)  # every fix step (the digest's thread shows them)


@dataclass
class HygieneSummary:
    """Recipients to remove from the practice's lists, and numbers to correct, seen failing in the
    window. Examples are masked; the full list is `smserror hygiene --csv` (the operator's own
    file, never a channel)."""

    recipients: int = 0  # distinct recipients to remove
    by_reason: dict[str, int] = field(default_factory=dict)  # reason -> distinct recipients to remove
    examples: list[dict[str, Any]] = field(default_factory=list)  # {"number": masked, "reason", "code"}
    to_correct: int = 0  # distinct numbers to correct (a wrong format or a typo), not remove


@dataclass
class DigestReport:
    title: str
    period: str  # 'daily:2026-03-09' (scheduled) or 'since:24h' (on demand)
    window_label: str  # '24 h', '7 days'
    window_text: str  # 'Sun 8 Mar 08:00 – Mon 9 Mar 08:00 EDT'
    timezone: str
    start: int
    end: int
    generated_at: int
    total: int
    previous_total: int
    daily_total: list[int]
    accounts: list[dict[str, Any]]  # {"sid", "name", "total"}, most first
    codes: list[CodeEntry]
    hygiene: HygieneSummary
    route: str = ""  # the route whose accounts it covers; "" for the whole fleet
    # the fleet's accounts that changed most against the previous window: {"sid", "name", "total", "previous"}
    changed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_dict(report: DigestReport | dict[str, Any]) -> dict[str, Any]:
    """Renderers take either the dataclass or its dict (what comes back out of the outbox)."""
    return report.to_dict() if isinstance(report, DigestReport) else report


# ------------------------------------------------------------------ windows


_SINCE = re.compile(r"\s*(\d{1,4})\s*([hd])\s*", re.IGNORECASE)


def parse_since(text: str, max_days: int = MAX_SINCE_SECONDS // q.DAY) -> tuple[int, str]:
    """'6h' -> (21600, '6 h'), '7d' -> (604800, '7 days'). ValueError with a readable message."""
    match = _SINCE.fullmatch(text or "")
    if not match:
        raise ValueError(f"--since must be hours or days such as 6h, 24h or 7d, got {text!r}")
    number, unit = int(match[1]), match[2].lower()
    seconds = number * (3600 if unit == "h" else q.DAY)
    if not 0 < seconds <= max_days * q.DAY:
        raise ValueError(f"--since must be between 1h and {max_days}d, got {text!r}")
    label = f"{number} h" if unit == "h" else f"{number} day{'s' if number != 1 else ''}"
    return seconds, label


def window_text(start: int, end: int, tz: ZoneInfo) -> str:
    a = datetime.fromtimestamp(start, tz)
    b = datetime.fromtimestamp(end, tz)
    def show(moment: datetime) -> str:  # no %-d: not every platform's strftime has it
        return f"{moment:%a} {moment.day} {moment:%b %H:%M}"

    return f"{show(a)} – {show(b)} {b.tzname()}"


# ------------------------------------------------------------------ building


def build_report(
    db,
    start: int,
    end: int,
    *,
    tz: ZoneInfo,
    period: str,
    title: str,
    window_label: str,
    now: int | None = None,
    route: Route | None = None,
) -> DigestReport:
    """Everything the digest shows, for failures sent in [start, end): the whole fleet's, or
    the `route`'s accounts' alone."""
    length = end - start
    accounts = route.accounts if route else None
    by_code_account = q.counts_by_code_account(db, start, end, accounts)
    previous = q.counts_by_code(db, start - length, start, accounts)
    series = q.daily_series(db, end, TREND_DAYS, accounts)
    names = q.account_names(db)

    entries: list[CodeEntry] = []
    account_totals: dict[str, int] = {}
    for code, per_account in by_code_account.items():
        for account, count in per_account.items():
            account_totals[account] = account_totals.get(account, 0) + count
        entries.append(_code_entry(db, code, per_account, previous.get(code, 0), series.get(code), start, end,
                                   accounts))
    entries.sort(key=lambda e: (-e.count, e.code))

    daily_total = [sum(days[i] for days in series.values()) for i in range(TREND_DAYS)]
    listed = [
        {"sid": sid, "name": mask_numbers_in_text(names.get(sid, "")), "total": total}
        for sid, total in sorted(account_totals.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return DigestReport(
        title=title,
        period=period,
        window_label=window_label,
        window_text=window_text(start, end, tz),
        timezone=getattr(tz, "key", None) or str(tz),
        start=start,
        end=end,
        generated_at=int(_time.time() if now is None else now),
        total=sum(e.count for e in entries),
        previous_total=sum(previous.values()),
        daily_total=daily_total,
        accounts=listed,
        codes=entries,
        hygiene=hygiene_summary(db, start, end, accounts=accounts),
        route=route.name if route else "",
        changed=[] if route else _changed(account_totals, q.counts_by_account(db, start - length, start), names),
    )


def _changed(totals: dict[str, int], previous: dict[str, int], names: dict[str, str]) -> list[dict[str, Any]]:
    """The accounts whose failures changed most against the previous window (up or down), when
    there are several to compare."""
    sids = set(totals) | set(previous)
    if len(sids) < 2:
        return []
    moved = [sid for sid in sids if totals.get(sid, 0) != previous.get(sid, 0)]
    moved.sort(key=lambda sid: (-abs(totals.get(sid, 0) - previous.get(sid, 0)), -totals.get(sid, 0), sid))
    return [{"sid": sid, "name": mask_numbers_in_text(names.get(sid, "")), "total": totals.get(sid, 0),
             "previous": previous.get(sid, 0)} for sid in moved[:CHANGED_ACCOUNTS]]


def _code_entry(db, code: int, per_account: dict[str, int], previous: int, daily: list[int] | None,
                start: int, end: int, accounts: q.Accounts) -> CodeEntry:
    info = knowledge.get(code)
    return CodeEntry(
        code=code,
        count=sum(per_account.values()),
        previous=previous,
        daily=list(daily or [0] * TREND_DAYS),
        accounts=[[sid, n] for sid, n in sorted(per_account.items(), key=lambda kv: (-kv[1], kv[0]))],
        # free text may quote an example number: nothing number-like leaves unmasked
        title=mask_numbers_in_text(info.title) if info else "Unknown error code",
        meaning=mask_numbers_in_text(info.meaning) if info else "Not in Twilio's error dictionary or our notes.",
        first_step=mask_numbers_in_text(info.steps[0]) if info and info.steps else "",
        category=info.category if info else "other",
        category_label=info.category_label if info else knowledge.CATEGORY_LABELS["other"],
        docs_url=knowledge.docs_url(code),
        evidence=evidence_entry(db, code, info.evidence, start, end, accounts) if info and info.evidence else None,
        steps=[mask_numbers_in_text(step) for step in info.steps] if info else [],
    )


def evidence_rows(db, code: int, evidence: knowledge.Evidence, start: int, end: int, accounts: q.Accounts = None
                  ) -> tuple[int, int, list[q.EvidenceRow], int]:
    """(window start, examples needed, the examples, how many qualify) by the article's rule:
    the window it names, ending at `end` (with no named window, as for 30024, from `start`);
    only failures with its status; one per contact where it asks for contacts. Full numbers."""
    ev_start = end - evidence.window_hours * 3600 if evidence.window_hours else start
    needed = max(EVIDENCE_MIN, evidence.count)
    rows, available = q.evidence_examples(db, code, ev_start, end, needed, status=evidence.status,
                                          per_contact=evidence.per_contact, accounts=accounts)
    return ev_start, needed, rows, available


def evidence_entry(db, code: int, evidence: knowledge.Evidence, start: int, end: int,
                   accounts: q.Accounts = None) -> EvidenceEntry:
    """The examples as the digest shows them: numbers masked."""
    ev_start, needed, rows, available = evidence_rows(db, code, evidence, start, end, accounts)
    return EvidenceEntry(
        ask=evidence.describe(),
        what=evidence.what,
        needed=needed,
        window_hours=evidence.window_hours,
        start=ev_start,
        end=end,
        examples=[{"sid": row.sid, "to": mask_number(row.recipient)} for row in rows],
        available=available,
        unit="contact" if evidence.per_contact else "message",
        status=evidence.status,
    )


def hygiene_summary(db, start: int, end: int, examples: int = HYGIENE_EXAMPLES,
                    accounts: q.Accounts = None) -> HygieneSummary:
    rows = q.hygiene_rows(db, start, end, accounts)
    by_reason: dict[str, set[str]] = {}
    to_correct: set[str] = set()
    for row in rows:
        if row.code in q.TO_CORRECT:
            to_correct.add(row.number)
        else:
            by_reason.setdefault(row.reason, set()).add(row.number)
    shown: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in rows:  # newest first
        if len(shown) >= examples:
            break
        if row.number not in seen:
            seen.add(row.number)
            shown.append({"number": mask_number(row.number), "reason": row.reason, "code": row.code})
    return HygieneSummary(
        recipients=len(set().union(*by_reason.values())),
        by_reason={reason: len(numbers) for reason, numbers in sorted(by_reason.items(), key=lambda kv: -len(kv[1]))},
        examples=shown,
        to_correct=len(to_correct),
    )


def build_period_report(db, period: DigestPeriod, tz: ZoneInfo, now: int | None = None,
                        route: Route | None = None) -> DigestReport:
    start, end = int(period.start.timestamp()), int(period.end.timestamp())
    day = period.end.astimezone(tz)
    return build_report(
        db, start, end, tz=tz, period=period.key, now=now, route=route,
        title=f"Daily SMS failure digest{_of(route)} · {day:%a} {day.day} {day:%b %Y}",
        window_label=_hours_label(end - start),
    )


def build_window_report(db, seconds: int, label: str, tz: ZoneInfo, now: int | None = None,
                        route: Route | None = None) -> DigestReport:
    end = int(_time.time() if now is None else now)
    return build_report(db, end - seconds, end, tz=tz, period=f"since:{label.replace(' ', '')}", now=end,
                        title=f"SMS failure digest{_of(route)} · last {label}", window_label=label, route=route)


def _of(route: Route | None) -> str:
    return f" · {route.name}" if route else ""


def _hours_label(seconds: int) -> str:
    hours = round(seconds / 3600)
    return f"{hours} h"


# ------------------------------------------------------------------ posting


def dedupe_key(report: DigestReport | dict[str, Any]) -> str:
    """One outbox row per period and destination (`outbox.destination_key` adds the destination).
    On-demand digests also carry their end minute, so a rerun a minute later posts again."""
    data = as_dict(report)
    if data["period"].startswith("daily:"):
        return f"digest:{data['period']}"
    return f"digest:{data['period']}:{data['end'] // 60}"


def scoped(build: Callable[[Route | None], DigestReport], destinations: Iterable) -> list[tuple[DigestReport, list]]:
    """[(report, the destinations that get it)]: first the whole fleet's, for the default
    destinations (it is the one the period is claimed with), then each route's own, for the
    route's destinations."""
    by_route: dict[Route | None, list] = {None: []}
    for destination in destinations:
        by_route.setdefault(getattr(destination, "route", None), []).append(destination)
    return [(build(route), members) for route, members in by_route.items()]


def enqueue_digest(db, reports: list[tuple[DigestReport, list]], now: int, *, claim_period: bool) -> bool:
    """Store each report for each of its destinations, in one transaction. With `claim_period`,
    the period (of the first report, the fleet's) is recorded in digest_runs in the same
    transaction, and nothing is enqueued when it was already there. Returns whether anything new
    was enqueued."""
    fleet = reports[0][0]
    with transaction(db):
        if claim_period and not digest_runs.claim(db, fleet.period, now, fleet.total):
            return False
        added = False
        for report, destinations in reports:
            payload = report.to_dict()
            key = dedupe_key(report)
            for destination in destinations:
                added |= outbox.enqueue(db, outbox.destination_key(key, destination.name), DIGEST_KIND, payload, now,
                                        destination=destination.name)
                if report.codes:  # every fix step of every listed code, in the post's thread
                    outbox.enqueue(db, outbox.destination_key(f"{key}:fixes", destination.name), FIXES_KIND,
                                   {**payload, "parent": key}, now, destination=destination.name)
        return added


@dataclass
class DigestOutcome:
    report: DigestReport
    enqueued: bool
    delivery: Any = None  # jobs.deliver.DeliveryReport


def run_due_digest(db, digest_at: time, tz: ZoneInfo, destinations: list, now: datetime | None = None,
                   grace=DIGEST_GRACE, lease: Lease | None = None,
                   rules: Rules = DEFAULT_RULES) -> DigestOutcome | None:
    """The scheduled digest (cron job and start-up catch-up alike), due daily at `digest_at` in
    `tz`: if a period is due and not yet sent, build it, claim it, enqueue it for every
    destination and deliver. Else None."""
    now = now or datetime.now(UTC)
    period = digest_due(db, now, digest_at, tz, grace)
    if period is None:
        return None
    epoch = int(now.timestamp())
    reports = scoped(lambda route: build_period_report(db, period, tz, now=epoch, route=route), destinations)
    if not enqueue_digest(db, reports, epoch, claim_period=True):
        return None  # someone else claimed it between digest_due and here
    return DigestOutcome(reports[0][0], True, deliver_due(db, destinations, epoch, lease=lease, rules=rules))


def run_window_digest(db, tz: ZoneInfo, seconds: int, label: str, destinations: list,
                      now: int | None = None, rules: Rules = DEFAULT_RULES) -> DigestOutcome:
    """`smserror digest --since …`: the last `seconds`, posted to every destination."""
    now = int(_time.time() if now is None else now)
    reports = scoped(lambda route: build_window_report(db, seconds, label, tz, now=now, route=route), destinations)
    enqueued = enqueue_digest(db, reports, now, claim_period=False)
    return DigestOutcome(reports[0][0], enqueued, deliver_due(db, destinations, now, rules=rules))

"""Small hand-built inputs for every message type, and their views: the exact-output tests
(tests/test_view_*.py) read them, and the cross-emitter test renders every one on each surface.

Free text carries `<`, `>` and `&` so that escaping shows; numbers are masked as the store
masks them; every value is distinctive, so finding it in an output means it was rendered."""

from __future__ import annotations

import copy

from jobs import overview
from jobs.rules import DEFAULT_RULES
from jobs.views.alerts import alert_view, examples_view, reply_view, resolved_view
from jobs.views.commands import code_examples_view, help_view, status_view, top_view
from jobs.views.digest import digest_view, fixes_view
from jobs.views.home import home_view
from jobs.views.lookup import card_view, lookup_view
from jobs.views.model import View
from jobs.views.watch import watch_view, working_again_view
from jobs.watch import callbacks_trouble, twilio_trouble
from storage.db import open_db
from storage.failures import upsert_failures
from storage.knowledge import CodeInfo, Evidence, LookupResult, lookup
from tests.test_digest import AC1, AC2

AC3 = "AC" + "3" * 32

DIGEST = {
    "title": "Daily SMS failure digest · Mon 9 Mar 2026",
    "period": "daily:2026-03-09",
    "window_label": "24 h",
    "window_text": "Sun 8 Mar 08:00 – Mon 9 Mar 08:00 EDT",
    "timezone": "America/New_York",
    "start": 1772974800,
    "end": 1773057600,
    "generated_at": 1773057600,
    "total": 5,
    "previous_total": 4,
    "daily_total": [0, 1, 0, 2, 0, 4, 5],
    "accounts": [{"sid": AC1, "name": "", "total": 5}],
    "codes": [
        {
            "code": 30003, "count": 4, "previous": 2, "daily": [0, 1, 0, 2, 0, 2, 4], "accounts": [[AC1, 4]],
            "title": "Unreachable destination handset", "meaning": "The phone couldn't be reached <off>.",
            "first_step": "Retry later & check.", "category": "carrier", "category_label": "Carrier / content",
            "docs_url": "https://www.twilio.com/docs/api/errors/30003",
            "steps": ["Retry later & check.", "Ask the patient to restart the phone."],
            "evidence": {"ask": "3 or more message SIDs from the last 24 hours", "what": "message SIDs", "needed": 3,
                         "window_hours": 24, "start": 1772971200, "end": 1773057600, "available": 4,
                         "examples": [{"sid": "SM1", "to": "+1••••••0001"}, {"sid": "SM2", "to": "+1••••••0002"},
                                      {"sid": "SM3", "to": "+1••••••0003"}]},
        },
        {
            "code": 21610, "count": 1, "previous": 2, "daily": [0, 0, 0, 0, 0, 2, 1], "accounts": [[AC1, 1]],
            "title": "Attempt to send to unsubscribed recipient", "meaning": "The patient opted out.",
            "first_step": "", "category": "contact", "category_label": "Contact / list hygiene",
            "docs_url": "https://www.twilio.com/docs/api/errors/21610", "evidence": None, "steps": [],
        },
    ],
    "hygiene": {"recipients": 1, "by_reason": {"opted out": 1},
                "examples": [{"number": "+1••••••0009", "reason": "opted out", "code": 21610}]},
}


def several_accounts() -> dict:
    """DIGEST over two accounts, the second with a friendly name."""
    report = copy.deepcopy(DIGEST)
    report["accounts"] = [{"sid": AC1, "name": "", "total": 4}, {"sid": AC2, "name": "Glow <Clinic>", "total": 1}]
    report["codes"][0]["accounts"] = [[AC1, 3], [AC2, 1]]
    return report


def fleet_digest() -> dict:
    """The fleet's digest over three accounts: it leads with the clinics that changed most."""
    report = several_accounts()
    report["changed"] = [{"sid": AC2, "name": "Glow <Clinic>", "total": 1, "previous": 9},
                         {"sid": AC1, "name": "", "total": 4, "previous": 0},
                         {"sid": AC3, "name": "", "total": 0, "previous": 2}]
    return report


def quiet_day() -> dict:
    report = copy.deepcopy(DIGEST)
    report.update(total=0, previous_total=3, codes=[], accounts=[], daily_total=[0, 0, 0, 3, 0, 0, 0],
                  hygiene={"recipients": 0, "by_reason": {}, "examples": []})
    return report


GROUP = "AC1:30033:MG1"
ALERT = {
    "group": GROUP, "kind": "account", "state": "firing", "account_sid": "AC1", "service_sid": "MG1",
    "error_code": 30033, "count": 3, "first_seen": 1_800_000_000, "last_seen": 1_800_000_600,
    "acked_by": None, "snoozed_until": None, "repeat": False, "mention": "<!here>",
    "senders": ["+1••••••0100"], "latest": {"sid": "SM3", "recipient": "+1••••••0142", "sent_at": 1_800_000_600},
    "title": "Campaign <suspended>", "category_label": "Account / registration",
    "meaning": "The campaign was suspended & paused.", "steps": ["Contact Support.", "Re-register the campaign."],
    "docs_url": "https://www.twilio.com/docs/api/errors/30033",
}
ACKED = {**ALERT, "acked_by": "U42", "acked_at": 1_800_000_900}
SNOOZED = {**ALERT, "snoozed_until": 1_800_086_400}
RESOLVED = {**ALERT, "state": "resolved", "resolved_at": 1_800_007_800}
SPIKE = {**ALERT, "kind": "spike", "mention": "", "spike": {"last_hour": 12, "baseline_per_hour": 1.5}, "repeat": True}
FLEET = {
    **ALERT, "group": "fleet:30008", "kind": "fleet", "account_sid": "fleet", "service_sid": "", "error_code": 30008,
    "count": 14, "senders": [], "title": "Unknown <error>", "docs_url": "https://www.twilio.com/docs/api/errors/30008",
    "accounts": [{"sid": AC1, "name": "Glow <Clinic>", "count": 6}, {"sid": AC2, "name": "", "count": 5},
                 {"sid": AC3, "name": "", "count": 3}],
    "fleet": {"min_accounts": 3, "min_per_account": 3, "window": 900},
}
EXAMPLES = [
    {"sid": "SM3", "sent_at": 1_800_000_600, "sender": "+1••••••0100", "recipient": "+1••••••0142"},
    {"sid": "SM2", "sent_at": 1_800_000_300, "sender": "+1••••••0100", "recipient": "+1••••••0177"},
]

CARD = CodeInfo(
    code=30003, title="Unreachable <handset>", product="Programmable SMS", log_level="ERROR",
    meaning="The phone is off & out of signal.", steps=("Retry later.", "Check the handset."),
    category="carrier", evidence=Evidence(3, 24, "message SIDs"), notes=("Often temporary.",), source="article",
)
MATCHES = LookupResult(kind="matches", query="x", matches=(CARD,), message="1 code matches “x”, best first.")


def watch_report(trouble) -> dict:
    """A watch alert's payload as jobs/watch.py stores it."""
    return {"group": f"watch:{trouble.subject}", "subject": trouble.subject, "state": "firing",
            "title": trouble.title, "cause_id": trouble.cause_id, "cause": trouble.cause, "fix": trouble.fix,
            "facts": [list(fact) for fact in trouble.facts], "since": 1_800_000_000, "checks": 16,
            "posted_at": 1_800_000_900, "resolved_at": None, "generated_at": 1_800_000_900}


TWILIO_WATCH = watch_report(twilio_trouble(AC1, "Glow Clinic", "Twilio rejected the credentials (error 20003, HTTP "
                                                               "401): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"))
WATCH_RESOLVED = {**TWILIO_WATCH, "state": "resolved", "resolved_at": 1_800_003_600}


def sample_views() -> dict[str, View]:
    """One view of each message type (and state), by name."""
    return {
        "digest": digest_view(DIGEST),
        "digest, several accounts": digest_view(several_accounts()),
        "digest, quiet day": digest_view(quiet_day()),
        "digest, fleet": digest_view(fleet_digest()),
        "digest fixes": fixes_view(DIGEST),
        "alert firing": alert_view(ALERT),
        "alert acknowledged": alert_view(ACKED),
        "alert snoozed": alert_view(SNOOZED),
        "alert resolved": alert_view(RESOLVED),
        "alert spike, repeating": alert_view(SPIKE),
        "thread reply": reply_view({**ALERT, "new_failures": 2}),
        "thread reply, reopened": reply_view({**ALERT, "new_failures": 1, "reopened": True}),
        "resolved note": resolved_view({**ALERT, "quiet_for": 7500}),
        "fleet alert firing": alert_view(FLEET),
        "fleet alert resolved": alert_view({**FLEET, "state": "resolved", "resolved_at": 1_800_007_800}),
        "fleet thread reply": reply_view({**FLEET, "new_failures": 3}),
        "fleet resolved note": resolved_view({**FLEET, "quiet_for": 7500}),
        "examples": examples_view(ALERT, EXAMPLES),
        "examples, none": examples_view(ALERT, []),
        "examples, gone": examples_view(None, []),
        "lookup card": card_view(CARD, shareable=True),
        "shared card": card_view(CARD, shared_by="U42"),
        "matches": lookup_view(MATCHES),
        "did you mean": lookup_view(lookup("30070")),
        "not found": lookup_view(lookup("99999")),
        "usage": lookup_view(lookup("")),
        "watch: Twilio unread": watch_view(TWILIO_WATCH),
        "watch: callbacks refused": watch_view(watch_report(callbacks_trouble(
            "/twilio/status", 10, 300, "https://smserror.example.org/twilio/status/twilio/status"))),
        "watch: working again (edit)": watch_view(WATCH_RESOLVED),
        "watch: working again (reply)": working_again_view(WATCH_RESOLVED),
        **overview_views(),
    }


def overview_views() -> dict[str, View]:
    """The answers built from the store (slash subcommands, App Home), over a small one."""
    now = 1_800_000_000
    db = open_db(":memory:")
    rows = [{"sid": f"SM{n:032x}", "account_sid": AC1 if n % 2 else AC2, "status": "undelivered",
             "error_code": 30007 if n % 3 else 21610, "sent_at": now - 600 * n, "recipient": "+12025550142"}
            for n in range(1, 9)]
    upsert_failures(db, rows, "poll", now)
    views = {
        "help": help_view(),
        "top": top_view(overview.top_codes(db, 86400, "24 h", now)),
        "status": status_view(overview.status(db, now)),
        "examples of a code": code_examples_view(overview.code_examples(db, 30007, 5)),
        "home": home_view(overview.home(db, now, DEFAULT_RULES, alerts_shown=5, next_digest=now + 3600)),
    }
    db.close()
    return views

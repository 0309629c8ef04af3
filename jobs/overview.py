"""What `/smserror top|status|examples` and the App Home show, read from the store as plain
dicts for the views in jobs/views/commands.py and jobs/views/home.py.

Phone numbers are masked here, before anything leaves. `top`, `status` and `examples` answer
inside a slash command's ack, so they only run queries that seek an index (the digest's counts,
the outbox's unsent rows, one code's newest failures); the App Home, published after the ack,
also builds the full report of each open alert it shows (jobs/alerts.py `group_report`).
"""

from __future__ import annotations

from typing import Any

from jobs import alerts
from jobs.rules import Rules
from storage import alert_groups, knowledge, leases, outbox
from storage import digest_queries as q
from storage.alert_groups import AlertGroup
from storage.failures import latest_with_code
from storage.poll_state import all_poll_states, streamed
from storage.privacy import mask_number, mask_numbers_in_text

DAY = q.DAY


def top_codes(db, seconds: int, label: str, now: int) -> dict[str, Any]:
    """The codes of [now - seconds, now), most failures first, each with its count in the
    window of the same length just before, its title and its first fix step."""
    current = q.counts_by_code(db, now - seconds, now)
    previous = q.counts_by_code(db, now - 2 * seconds, now - seconds)
    ranked = sorted(current.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "window_label": label,
        "start": now - seconds,
        "end": now,
        "total": sum(current.values()),
        "previous_total": sum(previous.values()),
        "codes": [_code(code, count, previous.get(code, 0)) for code, count in ranked],
    }


def _code(code: int, count: int, previous: int) -> dict[str, Any]:
    info = knowledge.get(code)
    return {
        "code": code,
        "count": count,
        "previous": previous,
        # free text may quote an example number, as in the digest
        "title": mask_numbers_in_text(info.title) if info else "Unknown error code",
        "first_step": mask_numbers_in_text(info.steps[0]) if info and info.steps else "",
        "docs_url": knowledge.docs_url(code),
    }


def accounts(db, now: int) -> list[dict[str, Any]]:
    """Each Twilio account the poller knows: when it last read the account whole, whether Event
    Streams covers it (then only the hourly sweep reads it), and the error of its latest attempt
    if that one failed (a success clears it)."""
    return [{"sid": state["account_sid"],
             "name": mask_numbers_in_text(state["friendly_name"] or ""),
             "last_ok_at": state["last_ok_at"],
             "streamed": streamed(state, now),
             "last_error": mask_numbers_in_text(state["last_error"] or "")}
            for state in all_poll_states(db)]


def delivery(db, now: float) -> dict[str, Any]:
    """The outbox backlog (what waits to reach Slack or Teams) and who leads: only the leader
    polls and delivers."""
    waiting = outbox.pending(db)
    errors = [item.last_error for item in waiting if item.last_error]
    # anyone's: no holder is named "", so this is whoever holds the lease now
    holder = leases.holder_other_than(db, leases.LEADER, "", now)
    return {
        "pending": len(waiting),
        "oldest_at": min((item.created_at for item in waiting), default=None),
        "last_error": mask_numbers_in_text(errors[-1]) if errors else "",
        "leader": holder or "",
        "leader_is_me": holder == leases.process_holder(),
    }


def message_link(group: AlertGroup, *, domain: str = "", team: str = "") -> str:
    """A link to the group's Slack post with no API call: the permalink when the workspace's
    domain is known (a slash command carries it), else Slack's redirect. "" when not in Slack."""
    channel, ts = group.post_channel, group.post_ref
    if not group.posted_in_slack or not (channel and ts):
        return ""
    if domain:
        return f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    return f"https://slack.com/app_redirect?channel={channel}&message_ts={ts}" + (f"&team={team}" if team else "")


def open_groups(db) -> list[AlertGroup]:
    """Announced, unresolved alert groups: account-level first, then the latest failure first."""
    return sorted(alert_groups.unresolved(db), key=lambda g: (g.kind != "account", -g.last_seen, g.key))


def alert_summary(group: AlertGroup, now: int, link: str, names: dict[str, str]) -> dict[str, Any]:
    """An open alert in one line's worth of fields, from its row and `names` (account SID ->
    friendly name) alone (no query)."""
    return {
        "group": group.key, "kind": group.kind, "error_code": group.error_code,
        "title": alerts.describe(group.error_code)["title"], "account_sid": group.account_sid,
        "account_name": mask_numbers_in_text(names.get(group.account_sid, "")),
        "count": group.count, "first_seen": group.first_seen, "last_seen": group.last_seen,
        "acked_by": group.acked_by, "snoozed_until": group.snoozed_until if group.snoozed(now) else None,
        "link": link,
    }


def status(db, now: int, *, domain: str = "") -> dict[str, Any]:
    """`/smserror status`: Twilio reads, delivery, the leader and every open alert."""
    groups = open_groups(db)
    names = q.account_names(db)
    return {
        "accounts": accounts(db, now),
        "delivery": delivery(db, now),
        "alerts": [alert_summary(g, now, message_link(g, domain=domain), names) for g in groups],
    }


def home(db, now: int, rules: Rules, *, alerts_shown: int, next_digest: int | None = None,
         team: str = "") -> dict[str, Any]:
    """The App Home: the first `alerts_shown` open alerts as full reports (their buttons need
    them), how many are open, Twilio reads, delivery, the last 24 h's top codes, the next digest."""
    groups = open_groups(db)
    shown = []
    for group in groups[:alerts_shown]:
        report = alerts.group_report(db, group, now, rules=rules, channel=group.post_channel)
        report["link"] = message_link(group, team=team)
        shown.append(report)
    return {
        "now": now,
        "alerts": shown,
        "open": len(groups),
        "accounts": accounts(db, now),
        "delivery": delivery(db, now),
        "top": top_codes(db, DAY, "24 h", now),
        "next_digest": next_digest,
    }


def code_examples(db, code: int, limit: int) -> dict[str, Any]:
    """`/smserror examples CODE`: its newest stored failures, any account, numbers masked."""
    rows, total = latest_with_code(db, code, limit)
    return {
        "error_code": code,
        "title": alerts.describe(code)["title"],
        "count": total,
        "examples": [{"sid": row["sid"], "sent_at": row["sent_at"], "account_sid": row["account_sid"],
                      "sender": mask_number(row["sender"]), "recipient": mask_number(row["recipient"])}
                     for row in rows],
    }

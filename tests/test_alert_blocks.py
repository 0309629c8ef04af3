"""Alert Block Kit is built by pure functions from a report; checked here against exact dicts."""

from bot.alert_blocks import alert_blocks, reply_blocks, resolved_blocks

GROUP = "AC1:30033:MG1"
REPORT = {
    "group": GROUP, "kind": "account", "state": "firing", "account_sid": "AC1", "service_sid": "MG1",
    "error_code": 30033, "count": 3, "first_seen": 1_800_000_000, "last_seen": 1_800_000_600,
    "acked_by": None, "snoozed_until": None, "repeat": False, "mention": "<!here>",
    "senders": ["+1••••••0100"], "latest": {"sid": "SM3", "recipient": "+1••••••0142", "sent_at": 1_800_000_600},
    "title": "Campaign <suspended>", "category_label": "Account / registration",
    "meaning": "The campaign was suspended.", "steps": ["Contact Support."],
    "docs_url": "https://www.twilio.com/docs/api/errors/30033",
}
SINCE = "<!date^1800000000^{date_short_pretty} {time}|2027-01-15 08:00 UTC>"
LATEST = "<!date^1800000600^{date_short_pretty} {time}|2027-01-15 08:10 UTC>"


def button(text, action_id, **extra):
    return {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id,
            **extra}


def test_firing_account_alert_exact():
    blocks, text = alert_blocks(REPORT)
    assert [b.to_dict() for b in blocks] == [
        {"type": "section", "text": {"type": "mrkdwn", "text":
            f"<!here> :rotating_light: *Campaign &lt;suspended&gt;* (`30033`)\n3 failures since {SINCE}, latest {LATEST}."}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*Account*\n`AC1`"},
            {"type": "mrkdwn", "text": "*Messaging service*\n`MG1`"},
            {"type": "mrkdwn", "text": "*Category*\nAccount / registration"},
            {"type": "mrkdwn", "text": "*Failures*\n3"},
            {"type": "mrkdwn", "text": "*Sender*\n+1••••••0100"},
            {"type": "mrkdwn", "text": "*Latest*\n`SM3` to +1••••••0142"},
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*What it means*\nThe campaign was suspended."}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*What to do*\n1. Contact Support."}},
        {"type": "actions", "elements": [
            button("Acknowledge", "smserror_alert_ack", value=GROUP, style="primary"),
            button("Snooze 24 h", "smserror_alert_snooze", value=GROUP),
            button("Show examples", "smserror_alert_examples", value=GROUP),
            button("Twilio docs", "smserror_open_docs", url="https://www.twilio.com/docs/api/errors/30033"),
        ]},
    ]
    assert text == "<!here> Campaign &lt;suspended&gt; (30033) on AC1 / MG1: 3 failures"


def test_acknowledged_alert_shows_who_and_drops_the_button():
    blocks, _ = alert_blocks({**REPORT, "acked_by": "U42", "acked_at": 1_800_000_900})
    data = [b.to_dict() for b in blocks]
    assert data[-2] == {"type": "context", "elements": [{"type": "mrkdwn", "text":
        ":eyes: Acknowledged by <@U42> <!date^1800000900^{date_short_pretty} {time}|2027-01-15 08:15 UTC>"}]}
    assert [e["action_id"] for e in data[-1]["elements"]] == [
        "smserror_alert_snooze", "smserror_alert_examples", "smserror_open_docs"]


def test_resolved_alert_is_struck_through_without_mention_or_fix():
    blocks, text = alert_blocks({**REPORT, "state": "resolved", "resolved_at": 1_800_007_800})
    data = [b.to_dict() for b in blocks]
    assert data[0]["text"]["text"].startswith(":white_check_mark: ~*Campaign &lt;suspended&gt;* (`30033`)~ resolved")
    assert "<!here>" not in str(data) and "What to do" not in str(data)
    assert [e["action_id"] for e in data[-1]["elements"]] == ["smserror_alert_examples", "smserror_open_docs"]
    assert text.startswith("Resolved: ")


def test_thread_reply_and_resolved_note_exact():
    blocks, text = reply_blocks({**REPORT, "new_failures": 2})
    assert text == "Campaign &lt;suspended&gt; (30033): 3 failures"
    assert [b.to_dict() for b in blocks] == [{"type": "section", "text": {"type": "mrkdwn", "text":
        f"+2 more failures, 3 in all. Latest `SM3` to +1••••••0142 {LATEST}."}}]
    blocks, _ = resolved_blocks({**REPORT, "quiet_for": 7500})
    assert [b.to_dict() for b in blocks] == [{"type": "section", "text": {"type": "mrkdwn", "text":
        f":white_check_mark: Resolved: no 30033 failures for 2 h 05 min (last {LATEST}). 3 in this incident."}}]

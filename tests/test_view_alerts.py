"""Real-time alerts: exact Block Kit, Adaptive Card and text for each state (firing,
acknowledged, snoozed, resolved, a repeating spike), the thread reply, the resolved note and the
examples answer; an alert of huge free text within every limit; alerts reaching a Teams webhook."""

from __future__ import annotations

import pytest

from bot.destinations import TeamsDestination
from bot.emit import slack, text
from bot.emit import teams as teams_emit
from jobs import alerts
from jobs.deliver import deliver_due
from jobs.views.alerts import alert_view, examples_view, reply_view, resolved_view
from storage import outbox
from tests.fakes.teams_webhook import LIMIT
from tests.surfaces import (
    actions,
    adaptive_card,
    assert_block_kit,
    assert_teams,
    button,
    context,
    fields,
    menu,
    section,
    text_block,
)
from tests.test_alerts import ACCOUNT, SERVICE, T0, failure, seen
from tests.view_samples import ACKED, ALERT, EXAMPLES, GROUP, RESOLVED, SNOOZED, SPIKE

DOCS = "https://www.twilio.com/docs/api/errors/30033"
SINCE = "<!date^1800000000^{date_short_pretty} {time}|2027-01-15 08:00 UTC>"
LATEST = "<!date^1800000600^{date_short_pretty} {time}|2027-01-15 08:10 UTC>"

ACK = button("Acknowledge", "smserror_alert_ack", value=GROUP, style="primary")
DURATIONS = (("1 h", f"3600:{GROUP}"), ("4 h", f"14400:{GROUP}"), ("24 h", f"86400:{GROUP}"),
             ("7 d", f"604800:{GROUP}"))
SNOOZE = menu("Snooze", "smserror_alert_snooze", *DURATIONS)
UNSNOOZE = menu("Snooze", "smserror_alert_snooze", *DURATIONS, ("Unsnooze", f"unsnooze:{GROUP}"))
EXAMPLES_BUTTON = button("Show examples", "smserror_alert_examples", value=GROUP)
DOCS_BUTTON = button("Twilio docs", "smserror_open_docs", url=DOCS)

SLACK_FACTS = fields("*Account*\n`AC1`", "*Messaging service*\n`MG1`", "*Category*\nAccount / registration",
                     "*Failures*\n3", "*Sender*\n+1••••••0100", "*Latest*\n`SM3` to +1••••••0142")
SLACK_FIRING = [
    section(f"<!here> *🚨 Campaign &lt;suspended&gt; (`30033`)*\n3 failures since {SINCE}, latest {LATEST}."),
    SLACK_FACTS,
    section("*What it means*\nThe campaign was suspended &amp; paused."),
    section("*What to do*\n1. Contact Support.\n2. Re-register the campaign."),
]
FACT_SET = {"type": "FactSet", "facts": [
    {"title": "Account", "value": "AC1"}, {"title": "Messaging service", "value": "MG1"},
    {"title": "Category", "value": "Account / registration"}, {"title": "Failures", "value": "3"},
    {"title": "Sender", "value": "+1••••••0100"}, {"title": "Latest", "value": "SM3 to +1••••••0142"}]}
TEAMS_FIRING = [
    text_block("🚨 Campaign <suspended> (30033)", weight="Bolder", size="Medium", color="Attention"),
    text_block("3 failures since 2027-01-15 08:00 UTC, latest 2027-01-15 08:10 UTC.", spacing="None"),
    FACT_SET,
    text_block("What it means", weight="Bolder"),
    text_block("The campaign was suspended & paused.", spacing="None"),
    text_block("What to do", weight="Bolder"),
    text_block("1. Contact Support.", spacing="None"),
    text_block("2. Re-register the campaign.", spacing="None"),
]
TEXT_FIRING = """\
🚨 Campaign <suspended> (30033)
  3 failures since 2027-01-15 08:00 UTC, latest 2027-01-15 08:10 UTC.
  Account: AC1
  Messaging service: MG1
  Category: Account / registration
  Failures: 3
  Sender: +1••••••0100
  Latest: SM3 to +1••••••0142

What it means
  The campaign was suspended & paused.

What to do
  1. Contact Support.
  2. Re-register the campaign.
"""
TEXT_DOCS = f"Twilio docs: {DOCS}\n"
NOTIFICATION = "<!here> Campaign &lt;suspended&gt; (30033) on AC1 / MG1: 3 failures"


def test_firing_alert():
    view = alert_view(ALERT)
    assert slack.to_dicts(view) == (SLACK_FIRING + [actions(ACK, SNOOZE, EXAMPLES_BUTTON, DOCS_BUTTON)],
                                    NOTIFICATION)
    assert teams_emit.card(view) == adaptive_card(*TEAMS_FIRING, links=(("Twilio docs", DOCS),))
    assert text.text(view) == TEXT_FIRING + "\n" + TEXT_DOCS


def test_acknowledged_alert_says_who_and_when_and_drops_the_button():
    view = alert_view(ACKED)
    acked = "👀 Acknowledged by {} 2027-01-15 08:15 UTC"
    assert slack.to_dicts(view) == (SLACK_FIRING + [
        context("👀 Acknowledged by <@U42> <!date^1800000900^{date_short_pretty} {time}|2027-01-15 08:15 UTC>"),
        actions(SNOOZE, EXAMPLES_BUTTON, DOCS_BUTTON)], NOTIFICATION)
    assert teams_emit.card(view) == adaptive_card(
        *TEAMS_FIRING, text_block(acked.format("U42"), isSubtle=True, size="Small"), links=(("Twilio docs", DOCS),))
    assert text.text(view) == TEXT_FIRING + "\n" + acked.format("@U42") + "\n" + TEXT_DOCS


def test_snoozed_alert_says_until_when_and_offers_unsnooze():
    view = alert_view(SNOOZED)
    assert slack.to_dicts(view) == (SLACK_FIRING + [
        context("💤 Snoozed until <!date^1800086400^{date_short_pretty} {time}|2027-01-16 08:00 UTC>"),
        actions(ACK, UNSNOOZE, EXAMPLES_BUTTON, DOCS_BUTTON)], NOTIFICATION)
    assert teams_emit.card(view) == adaptive_card(
        *TEAMS_FIRING, text_block("💤 Snoozed until 2027-01-16 08:00 UTC", isSubtle=True, size="Small"),
        links=(("Twilio docs", DOCS),))
    assert text.text(view) == TEXT_FIRING + "\n💤 Snoozed until 2027-01-16 08:00 UTC\n" + TEXT_DOCS


def test_acknowledged_and_snoozed_keeps_the_menu_examples_and_docs():
    blocks, _ = slack.to_dicts(alert_view({**ACKED, "snoozed_until": 1_800_086_400}))
    assert blocks[-2:] == [
        context("👀 Acknowledged by <@U42> <!date^1800000900^{date_short_pretty} {time}|2027-01-15 08:15 UTC> · "
                "💤 Snoozed until <!date^1800086400^{date_short_pretty} {time}|2027-01-16 08:00 UTC>"),
        actions(UNSNOOZE, EXAMPLES_BUTTON, DOCS_BUTTON)]


def test_resolved_alert_has_no_mention_fix_or_state_buttons():
    view = alert_view(RESOLVED)
    resolved_at = "<!date^1800007800^{date_short_pretty} {time}|2027-01-15 10:10 UTC>"
    assert slack.to_dicts(view) == ([
        section(f"*✅ Campaign &lt;suspended&gt; (`30033`) resolved*\n3 failures since {SINCE}, latest {LATEST}."),
        SLACK_FACTS,
        context(f"✅ Resolved {resolved_at}: no new failures since {LATEST}"),
        actions(EXAMPLES_BUTTON, DOCS_BUTTON),
    ], "Resolved: Campaign &lt;suspended&gt; (30033) on AC1 / MG1: 3 failures")
    assert teams_emit.card(view) == adaptive_card(
        text_block("✅ Campaign <suspended> (30033) resolved", weight="Bolder", size="Medium", color="Good"),
        *TEAMS_FIRING[1:3],
        text_block("✅ Resolved 2027-01-15 10:10 UTC: no new failures since 2027-01-15 08:10 UTC",
                   isSubtle=True, size="Small"),
        links=(("Twilio docs", DOCS),))
    assert text.text(view) == (TEXT_FIRING.split("\n\n")[0].replace("🚨", "✅").replace(")\n", ") resolved\n", 1)
                               + "\n\n✅ Resolved 2027-01-15 10:10 UTC: no new failures since 2027-01-15 08:10 UTC\n"
                               + TEXT_DOCS)


def test_repeating_spike_says_the_rate_and_why_it_repeats():
    view = alert_view(SPIKE)
    blocks, notification = slack.to_dicts(view)
    assert blocks[0] == section(f"*📈 Campaign &lt;suspended&gt; (`30033`)*\n"
                                f"Spike: 12 failures in the last hour against a usual 1.5/hour; 3 since {SINCE}.")
    assert blocks[-2] == context("🔁 Still failing: this alert repeats because the group was not acknowledged")
    assert notification == "Campaign &lt;suspended&gt; (30033) on AC1 / MG1: 3 failures"
    assert text.text(view).split("\n")[:2] == [
        "📈 Campaign <suspended> (30033)",
        "  Spike: 12 failures in the last hour against a usual 1.5/hour; 3 since 2027-01-15 08:00 UTC."]


def test_thread_reply():
    view = reply_view({**ALERT, "new_failures": 2})
    assert slack.to_dicts(view) == ([section(f"+2 more failures, 3 in all. Latest `SM3` to +1••••••0142 {LATEST}.")],
                                    "Campaign &lt;suspended&gt; (30033): 3 failures")
    shown = "+2 more failures, 3 in all. Latest SM3 to +1••••••0142 2027-01-15 08:10 UTC."
    assert teams_emit.card(view) == adaptive_card(text_block(shown, spacing="Default"))
    assert text.text(view) == shown + "\n"


def test_thread_reply_when_it_fails_again_after_resolving():
    view = reply_view({**ALERT, "new_failures": 1, "reopened": True, "latest": None})
    assert slack.to_dicts(view)[0] == [
        section("Failing again: 1 new failure after it was resolved; 3 in this incident.")]
    assert text.text(view) == "Failing again: 1 new failure after it was resolved; 3 in this incident.\n"


def test_resolved_note():
    view = resolved_view({**ALERT, "quiet_for": 7500})
    assert slack.to_dicts(view) == ([
        section(f"✅ Resolved: no 30033 failures for 2 h 05 min (last {LATEST}). 3 in this incident."),
        fields("*Account*\n`AC1`", "*Messaging service*\n`MG1`"),
    ], "Resolved: Campaign &lt;suspended&gt; (30033) on AC1 / MG1: 3 failures")
    shown = "✅ Resolved: no 30033 failures for 2 h 05 min (last 2027-01-15 08:10 UTC). 3 in this incident."
    assert teams_emit.card(view) == adaptive_card(
        text_block(shown, spacing="Default"),
        {"type": "FactSet", "facts": FACT_SET["facts"][:2]})
    assert text.text(view) == f"{shown}\nAccount: AC1\nMessaging service: MG1\n"


def test_examples():
    view = examples_view(ALERT, EXAMPLES)
    earlier = "<!date^1800000300^{date_short_pretty} {time}|2027-01-15 08:05 UTC>"
    assert slack.to_dicts(view) == ([section(
        "*Latest 2 of 3: Campaign &lt;suspended&gt; (30033)*\n"
        f"• `SM3` {LATEST} from +1••••••0100 to +1••••••0142\n"
        f"• `SM2` {earlier} from +1••••••0100 to +1••••••0177")], "Examples: SM3, SM2")
    assert teams_emit.card(view) == adaptive_card(
        text_block("**Latest 2 of 3: Campaign <suspended> (30033)**", spacing="Default"),
        text_block("• SM3 2027-01-15 08:10 UTC from +1••••••0100 to +1••••••0142", spacing="None"),
        text_block("• SM2 2027-01-15 08:05 UTC from +1••••••0100 to +1••••••0177", spacing="None"))
    assert text.text(view) == ("Latest 2 of 3: Campaign <suspended> (30033)\n"
                               "• SM3 2027-01-15 08:10 UTC from +1••••••0100 to +1••••••0142\n"
                               "• SM2 2027-01-15 08:05 UTC from +1••••••0100 to +1••••••0177\n")


@pytest.mark.parametrize("report, examples, said", [
    (ALERT, [], "No stored failures for Campaign <suspended> (30033) in this incident."),
    (None, [], "This alert is no longer in the store."),
])
def test_no_examples_is_one_line(report, examples, said):
    view = examples_view(report, examples)
    escaped = said.replace("<", "&lt;").replace(">", "&gt;")
    assert slack.to_dicts(view) == ([section(escaped)], escaped)
    assert teams_emit.card(view) == adaptive_card(text_block(said, spacing="Default"))
    assert text.text(view) == said + "\n"


def test_an_alert_of_huge_free_text_fits_every_surface(teams):
    huge = {**ALERT, "title": "T" * 500, "meaning": "é" * 200_000, "steps": ["step " + "x" * 3000] * 40,
            "senders": ["+1••••••4321"] * 2000}
    view = alert_view(huge)
    blocks, notification = slack.to_dicts(view)
    assert_block_kit(blocks, notification)
    assert blocks[-1] == actions(ACK, SNOOZE, EXAMPLES_BUTTON, DOCS_BUTTON), "the buttons survive"
    card = teams_emit.card(view)
    assert_teams({"alert": card})  # every text is clipped: it fits without shortening
    assert teams_emit.fit_card(card) is card
    assert card["body"][0]["text"].startswith("🚨 TTT") and card["actions"][0]["url"] == DOCS
    assert "x" * 3000 in text.text(view) and "é" * 200_000 in text.text(view), "the terminal is not clipped"
    item = outbox.OutboxItem(1, "k", "teams", "alert", huge, T0, 0, T0, None, None, None)
    TeamsDestination(teams.webhook_url, timeout=3).send(item)
    assert teams.sizes == [len(teams.requests[0].body)] and teams.sizes[0] <= teams_emit.MAX_MESSAGE_BYTES < LIMIT


def test_alert_reaches_teams_as_an_adaptive_card(db, teams):
    seen(db, [failure(at=T0)], T0)
    assert len(deliver_due(db, [TeamsDestination(teams.webhook_url, timeout=3)], T0).sent) == 1
    [card] = teams.cards
    assert_teams({"alert": card})
    assert card["body"][0]["text"] == "🚨 US A2P 10DLC - Campaign Suspended (30033)"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Account"] == ACCOUNT and facts["Messaging service"] == SERVICE
    assert facts["Latest"].endswith("to +1••••••4567")
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Twilio docs", "url": DOCS}]


def test_teams_gets_no_edits_or_thread_replies(db, teams):
    dest = [TeamsDestination(teams.webhook_url, timeout=3)]
    seen(db, [failure(at=T0)], T0)
    deliver_due(db, dest, T0)
    seen(db, [failure(at=T0 + 400)], T0 + 400)
    deliver_due(db, dest, T0 + 400)
    alerts.check_resolved(db, T0 + 400 + 7200)
    deliver_due(db, dest, T0 + 400 + 7200)
    assert [c["body"][0]["text"].split()[:2] for c in teams.cards] == [["🚨", "US"], ["✅", "Resolved:"]]
    assert not outbox.pending(db)

"""Adaptive Cards for Teams: the Workflows message shape, card 1.4, and every message under
Teams' 28 KB limit, checked by a fake webhook that refuses larger bodies as Teams does."""

from __future__ import annotations

import pytest

from bot.alert_cards import (
    MAX_MESSAGE_BYTES,
    SHORTENED_NOTE,
    alert_card,
    encode,
    fit_card,
    message_size,
    teams_message,
)
from bot.destinations import TeamsDestination
from jobs import alerts
from jobs.deliver import deliver_due
from storage import outbox
from tests.fakes.teams_webhook import LIMIT
from tests.test_alerts import ACCOUNT, SERVICE, T0, failure, seen


def report(**changes) -> dict:
    base = {
        "group": alerts.group_key(ACCOUNT, 30033, SERVICE), "kind": "account", "state": "firing",
        "account_sid": ACCOUNT, "service_sid": SERVICE, "error_code": 30033, "count": 3,
        "first_seen": T0, "last_seen": T0 + 60, "senders": ["+1••••••4321"],
        "latest": {"sid": "SM" + "0" * 32, "sent_at": T0 + 60, "sender": "+1••••••4321", "recipient": "+1••••••4567"},
        "title": "US A2P 10DLC - Campaign Suspended", "category": "account", "category_label": "Account / registration",
        "meaning": "The campaign was suspended.", "steps": ["Check the campaign in the Console."],
        "docs_url": "https://www.twilio.com/docs/api/errors/30033",
    }
    return {**base, **changes}


def test_alert_reaches_teams_as_an_adaptive_card(db, teams):
    seen(db, [failure(at=T0)], T0)
    assert len(deliver_due(db, [TeamsDestination(teams.webhook_url, timeout=3)], T0).sent) == 1
    [card] = teams.cards
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"].startswith("🚨 US A2P 10DLC - Campaign Suspended (30033)")
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Account"] == ACCOUNT and facts["Latest"].endswith("to +1••••••4567")
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Twilio docs",
                                  "url": "https://www.twilio.com/docs/api/errors/30033"}
    assert teams.sizes[0] < LIMIT


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


def test_a_card_that_fits_is_left_alone():
    card = alert_card(report())
    assert fit_card(card) is card
    message = teams_message(card)
    assert message["type"] == "message"
    assert message["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


def test_each_step_is_its_own_line():
    card = alert_card(report(steps=["Check the campaign in the Console.", "Contact Support."]))
    texts = [item["text"] for item in card["body"] if item["type"] == "TextBlock"]
    assert texts[-3:] == ["**What to do:**", "1. Check the campaign in the Console.", "2. Contact Support."]
    assert "\r" not in str(card)  # Teams shows a carriage return as no break at all


@pytest.mark.parametrize("size", [30_000, 200_000])
def test_an_oversized_alert_card_is_shortened_under_the_limit(teams, size):
    big = report(meaning="é" * size, steps=["step " + "x" * 3000] * 40, senders=["+1••••••4321"] * 2000)
    card = alert_card(big)
    fitted = fit_card(card)
    assert message_size(fitted) <= MAX_MESSAGE_BYTES < LIMIT
    assert fitted["body"][0]["text"].startswith("🚨"), "the title survives"
    assert fitted["body"][-1]["text"] == SHORTENED_NOTE
    assert card["body"][-1]["text"] != SHORTENED_NOTE, "the original is not modified"


def test_a_huge_digest_like_card_is_cut_to_fit_and_accepted(teams, db):
    rows = [{"type": "TextBlock", "text": f"{n}: 30007 x {n} — Message filtered " + "y" * 200, "wrap": True}
            for n in range(400)]
    card = {"type": "AdaptiveCard", "version": "1.4", "body": rows}
    assert message_size(card) > LIMIT
    fitted = fit_card(card)
    body = encode(teams_message(card))
    assert len(body) <= MAX_MESSAGE_BYTES and fitted["body"][0] == rows[0]
    item = outbox.OutboxItem(1, "x", "teams", "alert", report(meaning="z" * 100_000), T0, 0, T0, None, None, None)
    TeamsDestination(teams.webhook_url, timeout=3).send(item)
    assert teams.sizes[-1] <= MAX_MESSAGE_BYTES

"""Lookup answers: exact Block Kit, Adaptive Card and text for a card (to share, and shared),
matches, did-you-mean, not found and usage; what was typed comes back escaped and masked; the
card of every curated code, and of the longest dictionary entry, within every limit."""

from __future__ import annotations

import json

import pytest

from bot.emit import slack, teams, text
from jobs.views.lookup import card_view, lookup_view
from storage import knowledge
from storage.knowledge import lookup
from tests.surfaces import (
    DIVIDER,
    actions,
    adaptive_card,
    assert_block_kit,
    assert_teams,
    button,
    context,
    header,
    missing_content,
    section,
    text_block,
)
from tests.view_samples import CARD, MATCHES

DOCS = "https://www.twilio.com/docs/api/errors/30003"
DOCS_BUTTON = button("Twilio docs", "smserror_open_docs", url=DOCS)
SLACK_CARD = [
    header("30003 · Unreachable <handset>"),
    section("*What it means*\nThe phone is off &amp; out of signal."),
    section("*How to fix it*\n1. Retry later.\n2. Check the handset."),
    section("*What Support will ask for*\n3 or more message SIDs from the last 24 hours."),
    section("*Good to know*\n• Often temporary."),
]
TEAMS_CARD = [
    text_block("30003 · Unreachable <handset>", weight="Bolder", size="Medium"),
    text_block("What it means", weight="Bolder"),
    text_block("The phone is off & out of signal.", spacing="None"),
    text_block("How to fix it", weight="Bolder"),
    text_block("1. Retry later.", spacing="None"),
    text_block("2. Check the handset.", spacing="None"),
    text_block("What Support will ask for", weight="Bolder"),
    text_block("3 or more message SIDs from the last 24 hours.", spacing="None"),
    text_block("Good to know", weight="Bolder"),
    text_block("• Often temporary.", spacing="None"),
]
TEXT_CARD = """\
30003 · Unreachable <handset>

What it means
  The phone is off & out of signal.

How to fix it
  1. Retry later.
  2. Check the handset.

What Support will ask for
  3 or more message SIDs from the last 24 hours.

Good to know
  • Often temporary.

"""
CATEGORY = "Category: Carrier / content · Product: Programmable SMS"


def test_card_to_share():
    view = card_view(CARD, shareable=True)
    assert slack.to_dicts(view) == (SLACK_CARD + [
        context(CATEGORY),
        actions(DOCS_BUTTON, button("Share in channel", "smserror_share_in_channel", value="30003")),
    ], "Twilio error 30003: Unreachable &lt;handset&gt;")
    assert teams.card(view) == adaptive_card(*TEAMS_CARD, text_block(CATEGORY, isSubtle=True, size="Small"),
                                             links=(("Twilio docs", DOCS),))
    assert text.text(view) == TEXT_CARD + f"{CATEGORY}\nTwilio docs: {DOCS}\n"


def test_shared_card_credits_who_shared_it_and_cannot_be_shared_again():
    view = card_view(CARD, shared_by="U42")
    assert slack.to_dicts(view)[0] == SLACK_CARD + [context(f"{CATEGORY} · Shared by <@U42>"), actions(DOCS_BUTTON)]
    assert teams.card(view) == adaptive_card(
        *TEAMS_CARD, text_block(f"{CATEGORY} · Shared by U42", isSubtle=True, size="Small"),
        links=(("Twilio docs", DOCS),))
    assert text.text(view) == TEXT_CARD + f"{CATEGORY} · Shared by @U42\nTwilio docs: {DOCS}\n"


def test_matches_get_a_button_each_in_slack():
    view = lookup_view(MATCHES)
    assert slack.to_dicts(view) == ([
        section("1 code matches “x”, best first.\n• *30003* · Unreachable &lt;handset&gt;"),
        DIVIDER,
        actions(button("30003", "smserror_show_code_0", value="30003")),
    ], "1 code matches “x”, best first.")
    assert teams.card(view) == adaptive_card(  # a webhook card cannot call back: no buttons
        text_block("1 code matches “x”, best first.", spacing="Default"),
        text_block("• **30003** · Unreachable <handset>", spacing="None"))
    assert text.text(view) == "1 code matches “x”, best first.\n• 30003 · Unreachable <handset>\n"


def test_did_you_mean_offers_the_near_codes():
    view = lookup_view(lookup("30070"))
    question = "30070 is not a known Twilio error code. Did you mean 30007, 30010 or 30030?"
    near = [(30007, "Message filtered"), (30010, "Message price exceeds max price"),
            (30030, "Invalid AddressRetention"), (30020, "Internal Failure with Message Scheduling")]
    assert slack.to_dicts(view) == ([
        section("\n".join([question] + [f"• *{code}* · {title}" for code, title in near])),
        DIVIDER,
        actions(*(button(str(code), f"smserror_show_code_{n}", value=str(code)) for n, (code, _) in enumerate(near))),
    ], question)
    assert teams.card(view) == adaptive_card(
        text_block(question, spacing="Default"),
        *(text_block(f"• **{code}** · {title}", spacing="None") for code, title in near))
    assert text.text(view) == "\n".join([question] + [f"• {code} · {title}" for code, title in near]) + "\n"


@pytest.mark.parametrize("typed, said", [
    ("99999", "99999 is not a known Twilio error code. If Twilio has added it since, it is explained at "
              "https://www.twilio.com/docs/api/errors/99999"),
    ("", "Give an error code (e.g. 30007) or a few words (e.g. opted out, landline)."),
    ("+15551234567", "•••••••4567 is not a Twilio error code: those have 3 to 6 digits."),
])
def test_a_message_is_one_section(typed, said):
    view = lookup_view(lookup(typed))
    assert slack.to_dicts(view) == ([section(said)], said)
    assert teams.card(view) == adaptive_card(text_block(said, spacing="Default"))
    assert text.text(view) == said + "\n"


def test_what_was_typed_comes_back_escaped_and_masked():
    view = lookup_view(lookup("<!channel> & call +1 555 123 4567"))
    blocks, notification = slack.to_dicts(view)
    card, shown = json.dumps(teams.card(view), ensure_ascii=False), text.text(view)
    for out in (json.dumps(blocks, ensure_ascii=False), notification):
        assert "<!channel>" not in out and "&lt;!channel&gt; &amp; call" in out
    for out in (json.dumps(blocks, ensure_ascii=False), notification, card, shown):
        assert "555 123 4567" not in out and "4567" in out


def _cards_to_check() -> list[knowledge.CodeInfo]:
    """Every curated card (ours: the long ones) and the longest card from Twilio's dictionary."""
    cards = knowledge._knowledge().cards.values()
    curated = [info for info in cards if info.source != "dictionary"]
    longest = max((info for info in cards if info.source == "dictionary"),
                  key=lambda info: len(text.text(card_view(info))))
    return [*curated, longest]


def test_every_curated_card_fits_slack_and_teams_and_says_the_same_on_each():
    infos = _cards_to_check()
    assert {"article", "guide", "dictionary"} == {info.source for info in infos}
    for info in infos:
        for view in (card_view(info, shareable=True), card_view(info, shared_by="U" + "9" * 20)):
            blocks, notification = slack.to_dicts(view)
            assert_block_kit(blocks, notification)
            if info.source != "dictionary":  # the longest dictionary title is clipped to Slack's 150
                assert missing_content(view) == {"slack": [], "teams": [], "text": []}, info.code
    cards = {str(info.code): teams.card(card_view(info)) for info in infos}
    assert_teams(cards)
    assert all(teams.fit_card(card) is card for card in cards.values())

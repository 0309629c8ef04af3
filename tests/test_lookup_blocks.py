"""Lookup Block Kit is built by pure functions; checked here against exact dicts."""

from bot.lookup_blocks import card_blocks, lookup_blocks
from storage.knowledge import CodeInfo, Evidence, LookupResult, lookup

CARD = CodeInfo(
    code=30003, title="Unreachable <handset>", product="Programmable SMS", log_level="ERROR",
    meaning="The phone is off & out of signal.", steps=("Retry later.", "Check the handset."),
    category="carrier", evidence=Evidence(3, 24, "message SIDs"), notes=("Often temporary.",), source="article",
)


def test_card_blocks_exact():
    assert [b.to_dict() for b in card_blocks(CARD)] == [
        {"type": "header", "text": {"type": "plain_text", "text": "30003 · Unreachable <handset>", "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*What it means*\nThe phone is off &amp; out of signal."}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*How to fix it*\n1. Retry later.\n2. Check the handset."}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "*What Support will ask for*\n3 or more message SIDs from the last 24 hours."}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Good to know*\n• Often temporary."}},
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": "Category: Carrier / content · Product: Programmable SMS"}]},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Twilio docs", "emoji": True},
             "url": "https://www.twilio.com/docs/api/errors/30003", "action_id": "smserror_open_docs"},
            {"type": "button", "text": {"type": "plain_text", "text": "Share in channel", "emoji": True},
             "action_id": "smserror_share_in_channel", "value": "30003"},
        ]},
    ]


def test_shared_card_has_no_share_button_and_credits_the_user():
    blocks = [b.to_dict() for b in card_blocks(CARD, shareable=False, shared_by="U42")]
    assert blocks[-2]["elements"][0]["text"].endswith("Shared by <@U42>")
    assert [e["action_id"] for e in blocks[-1]["elements"]] == ["smserror_open_docs"]


def test_matches_get_a_button_each():
    result = LookupResult(kind="matches", query="x", matches=(CARD,), message="1 code matches “x”, best first.")
    blocks, fallback = lookup_blocks(result)
    assert [b.to_dict() for b in blocks] == [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "1 code matches “x”, best first.\n• *30003* · Unreachable &lt;handset&gt;"}},
        {"type": "divider"},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "30003", "emoji": True},
             "action_id": "smserror_show_code_0", "value": "30003"}]},
    ]
    assert fallback == "1 code matches “x”, best first."


def test_did_you_mean_offers_the_right_code():
    blocks, _ = lookup_blocks(lookup("30070"))
    buttons = blocks[-1].to_dict()["elements"]
    assert buttons[0]["value"] == "30007"


def test_not_found_and_usage_are_one_section():
    for text in ("99999", ""):
        blocks, fallback = lookup_blocks(lookup(text))
        assert len(blocks) == 1 and blocks[0].to_dict()["type"] == "section"
    assert "https://www.twilio.com/docs/api/errors/99999" in lookup_blocks(lookup("99999"))[1]


def test_every_article_card_fits_block_kit_limits():
    for code in (11200, 21610, 30007, 30034):
        for block in card_blocks(lookup(str(code)).card):
            data = block.to_dict()
            if data["type"] == "section":
                assert len(data["text"]["text"]) <= 3000
            if data["type"] == "header":
                assert len(data["text"]["text"]) <= 150

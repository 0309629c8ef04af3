"""Rendering the digest: exact Block Kit and card output for a small report, Block Kit and
Teams limits on a 300-code day, no full phone number anywhere, quiet day, several accounts."""

from __future__ import annotations

import copy
import json
import re

import pytest

from bot.alert_cards import message_size
from bot.digest_blocks import MAX_CODES, digest_blocks
from bot.digest_cards import digest_card
from bot.digest_text import change, render_text, sparkline
from jobs.digest import build_report
from tests.test_digest import AC1, AC2, DAY, END, H, NY, add_failure

AC = "AC" + "1" * 32
SMALL = {
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
    "accounts": [{"sid": AC, "name": "", "total": 5}],
    "codes": [
        {
            "code": 30003, "count": 4, "previous": 2, "daily": [0, 1, 0, 2, 0, 2, 4], "accounts": [[AC, 4]],
            "title": "Unreachable destination handset", "meaning": "The phone couldn't be reached <off>.",
            "first_step": "Retry later & check.", "category": "carrier", "category_label": "Carrier / content",
            "docs_url": "https://www.twilio.com/docs/api/errors/30003",
            "evidence": {"ask": "3 or more message SIDs from the last 24 hours", "what": "message SIDs", "needed": 3,
                         "window_hours": 24, "start": 1772971200, "end": 1773057600, "available": 4,
                         "examples": [{"sid": "SM1", "to": "+1••••••0001"}, {"sid": "SM2", "to": "+1••••••0002"},
                                      {"sid": "SM3", "to": "+1••••••0003"}]},
        },
        {
            "code": 21610, "count": 1, "previous": 2, "daily": [0, 0, 0, 0, 0, 2, 1], "accounts": [[AC, 1]],
            "title": "Attempt to send to unsubscribed recipient", "meaning": "The patient opted out.",
            "first_step": "", "category": "contact", "category_label": "Contact / list hygiene",
            "docs_url": "https://www.twilio.com/docs/api/errors/21610", "evidence": None,
        },
    ],
    "hygiene": {"recipients": 1, "by_reason": {"opted out": 1},
                "examples": [{"number": "+1••••••0009", "reason": "opted out", "code": 21610}]},
}


def _md(text):
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def dicts(report):
    blocks, text = digest_blocks(report)
    return [block.to_dict() for block in blocks], text


def test_small_report_blocks_exactly():
    blocks, text = dicts(SMALL)
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "text": "Daily SMS failure digest · Mon 9 Mar 2026", "emoji": True}},
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": "Sun 8 Mar 08:00 – Mon 9 Mar 08:00 EDT · times in America/New_York"}]},
        _md("*5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · 2 codes.*\n"
            "7-day trend `▁▃▁▄▁▇█` (per 24 h, oldest first)"),
        {"type": "divider"},
        _md("*30003 · Unreachable destination handset*  ·  _Carrier / content_\n"
            "*4 failures* · ▲ +2 (+100%) vs 2 · 7 days `▁▄▁▅▁▅█`\n"
            "The phone couldn't be reached &lt;off&gt;.\n"
            "*First step:* Retry later &amp; check.\n"
            "*For Support (3 or more message SIDs from the last 24 hours):*\n"
            "```SM1  to +1••••••0001\nSM2  to +1••••••0002\nSM3  to +1••••••0003```\n"
            "<https://www.twilio.com/docs/api/errors/30003|Twilio docs for 30003>"),
        _md("*21610 · Attempt to send to unsubscribed recipient*  ·  _Contact / list hygiene_\n"
            "*1 failure* · ▼ −1 (−50%) vs 2 · 7 days `▁▁▁▁▁█▅`\n"
            "The patient opted out.\n"
            "<https://www.twilio.com/docs/api/errors/21610|Twilio docs for 21610>"),
        {"type": "divider"},
        _md("*List hygiene* · 1 recipient to remove from your lists: 1 opted out.\n"
            "For example: `+1••••••0009` opted out (21610)\n"
            "The full list (full numbers, for your own use only): `smserror hygiene --csv FILE`"),
    ]
    assert text == ("Daily SMS failure digest · Mon 9 Mar 2026: 5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the "
                    "24 h before · 2 codes. Top: 30003 Unreachable destination handset (4), "
                    "21610 Attempt to send to unsubscribed recipient (1).")


def test_small_report_card_exactly():
    card = digest_card(SMALL)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    texts = [item["text"] for item in card["body"] if item["type"] == "TextBlock"]
    assert texts == [
        "Daily SMS failure digest · Mon 9 Mar 2026",
        "Sun 8 Mar 08:00 – Mon 9 Mar 08:00 EDT · times in America/New_York",
        "**5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · 2 codes.**",
        "7-day trend ▁▃▁▄▁▇█ (per 24 h, oldest first)",
        "**List hygiene** · 1 recipient to remove from your lists: 1 opted out.",
        "For example: +1••••••0009 opted out (21610)",
        "The full list (full numbers, for your own use only): smserror hygiene --csv FILE",
    ]
    assert [item.get("spacing") for item in card["body"][-3:]] == [None, "None", "None"]
    first = [item["text"] for item in card["body"][4]["items"]]
    assert first == [
        "30003 · Unreachable destination handset · Carrier / content",
        "4 failures · ▲ +2 (+100%) vs 2 · 7 days ▁▄▁▅▁▅█",
        "The phone couldn't be reached <off>.",
        "**First step:** Retry later & check.",
        "**For Support (3 or more message SIDs from the last 24 hours):**",
        "SM1  to +1••••••0001",
        "SM2  to +1••••••0002",
        "SM3  to +1••••••0003",
        "[Twilio docs for 30003](https://www.twilio.com/docs/api/errors/30003)",
    ]
    assert all(item["fontType"] == "Monospace" for item in card["body"][4]["items"][5:8])


def test_renderers_take_the_dataclass_and_its_json_alike(db):
    add_failure(db, "SM1", 30007, END - H)
    report = build_report(db, END - DAY, END, tz=NY, period="p", title="t", window_label="24 h", now=END)
    as_json = json.loads(json.dumps(report.to_dict()))
    assert dicts(report) == dicts(as_json)
    assert digest_card(report) == digest_card(as_json)
    assert render_text(report) == render_text(as_json)


def test_sparkline_and_change():
    assert sparkline([0, 0, 0, 0, 0, 0, 0]) == "▁▁▁▁▁▁▁"
    assert sparkline([0, 1, 100, 50, 0, 0, 100]) == "▁▂█▅▁▁█"  # any failure shows above the floor
    assert change(5, 0) == "new, none before"
    assert change(0, 0) == "no change"
    assert change(3, 3) == "no change vs 3"
    assert change(1, 4) == "▼ −3 (−75%) vs 4"


PLANTED = "+15551234567"


@pytest.fixture
def huge_day(db):
    """300 distinct codes in one day; the busiest are the ones with evidence; every recipient is
    one full number, and an account's friendly name contains it too."""
    db.execute("INSERT INTO poll_state (account_sid, friendly_name) VALUES (?, ?)", [AC2, f"Clinic {PLANTED}"])
    evidence_codes = [30003, 30004, 30005, 30007, 30008, 30024, 21610, 21614, 30006]
    others = [c for c in range(10001, 10400) if c not in evidence_codes][: 300 - len(evidence_codes)]
    n = 0
    for rank, code in enumerate(evidence_codes + others):
        for i in range(max(1, 40 - rank)):
            n += 1
            add_failure(db, f"SM{n:032x}", code, END - 1 - (n % 80_000), account=AC1 if n % 3 else AC2,
                        recipient=PLANTED)
    return build_report(db, END - DAY, END, tz=NY, period="daily:2026-03-09", title="Daily SMS failure digest · " + "x" * 300,
                        window_label="24 h", now=END)


def _all_text(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_300_codes_stay_within_block_kit_limits(huge_day):
    assert len(huge_day.codes) == 300
    blocks, text = dicts(huge_day)
    assert len(blocks) <= 50
    headers = [b for b in blocks if b["type"] == "header"]
    assert len(headers) == 1 and len(headers[0]["text"]["text"]) <= 150
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
    shown = [b for b in blocks if b["type"] == "section" and re.match(r"\*\d+ · ", b["text"]["text"])]
    assert len(shown) == MAX_CODES
    assert any(b["type"] == "context" and b["elements"][0]["text"].startswith(f"…and {300 - MAX_CODES} more codes")
               for b in blocks)
    assert 0 < len(text) <= 3000


def test_300_codes_teams_card_under_28_kb(huge_day):
    card = digest_card(huge_day)
    assert message_size(card) < 28 * 1024
    containers = [item for item in card["body"] if item["type"] == "Container"]
    assert len(containers) == MAX_CODES
    assert any(item.get("text", "").startswith(f"…and {300 - MAX_CODES} more codes") for item in card["body"])


def test_no_full_phone_number_in_any_rendering(huge_day):
    blocks, text = dicts(huge_day)
    rendered = [_all_text(blocks), text, json.dumps(digest_card(huge_day), ensure_ascii=False), render_text(huge_day),
                json.dumps(huge_day.to_dict(), ensure_ascii=False)]  # the outbox payload too
    for out in rendered:
        assert PLANTED not in out and PLANTED[1:] not in out and "5551234567" not in out
        assert out is text or "+1••••••4567" in out  # masked, still tells numbers apart


def test_extreme_free_text_is_clipped_not_rejected():
    report = copy.deepcopy(SMALL)
    entry = report["codes"][0]
    entry.update(title="T" * 400, meaning="M" * 10_000, first_step="S" * 10_000, category_label="C" * 300)
    entry["accounts"] = [[f"AC{i:032d}", i] for i in range(60)]
    report["accounts"] = [{"sid": f"AC{i:032d}", "name": "N" * 500, "total": i} for i in range(60)]
    report["title"] = "H" * 1000
    blocks, text = dicts(report)  # to_dict() validates every limit slack_sdk knows
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert len(blocks[0]["text"]["text"]) <= 150
    assert message_size(digest_card(report)) < 28 * 1024


def test_quiet_day_is_short():
    quiet = copy.deepcopy(SMALL)
    quiet.update(total=0, previous_total=3, codes=[], accounts=[], daily_total=[0, 0, 0, 3, 0, 0, 0],
                 hygiene={"recipients": 0, "by_reason": {}, "examples": []})
    blocks, text = dicts(quiet)
    assert blocks[2:] == [_md(":white_check_mark: No failed or undelivered messages in the last 24 h.")]
    assert len(blocks) == 3
    assert "No failed or undelivered messages" in text
    card = digest_card(quiet)
    assert len(card["body"]) == 3 and "No failed" in card["body"][2]["text"]
    assert "No failed or undelivered messages in the last 24 h." in render_text(quiet)


def test_several_accounts_are_shown_separately(db):
    db.execute("INSERT INTO poll_state (account_sid, friendly_name) VALUES (?, ?)", [AC2, "Glow <Clinic>"])
    for i in range(3):
        add_failure(db, f"SMa{i}", 30007, END - H - i, account=AC1)
    add_failure(db, "SMb", 30007, END - H, account=AC2)
    add_failure(db, "SMc", 30034, END - H, account=AC2)
    report = build_report(db, END - DAY, END, tz=NY, period="p", title="t", window_label="24 h", now=END)
    blocks, _ = dicts(report)
    summary = blocks[2]["text"]["text"]
    assert f"• {AC1}: 3 failures" in summary and f"• Glow &lt;Clinic&gt; ({AC2}): 2 failures" in summary
    assert f"By account: `{AC1}` 3 · `{AC2}` 1" in blocks[4]["text"]["text"]
    assert f"By account: `{AC2}` 1" in blocks[5]["text"]["text"]
    card = digest_card(report)
    facts = next(item for item in card["body"] if item["type"] == "FactSet")["facts"]
    assert facts == [{"title": AC1, "value": "3 failures"}, {"title": f"Glow <Clinic> ({AC2})", "value": "2 failures"}]
    text = render_text(report)
    assert f"by account: {AC1} 3, {AC2} 1" in text
    # one account: no per-account noise
    single = copy.deepcopy(SMALL)
    assert "By account" not in _all_text(dicts(single)[0])

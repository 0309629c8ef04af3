"""The digest and its thread of fixes: exact Block Kit, Adaptive Card and text for a small
report; a quiet day; several accounts; the tail of codes folded; and a 300-code day within
every limit of Slack and Teams, with no full phone number anywhere."""

from __future__ import annotations

import copy
import json
import re

import pytest

from bot.emit import slack, teams, text
from jobs.digest import build_report
from jobs.views.digest import MAX_CODES, change, digest_view, fixes_view, sparkline
from storage.db import open_db
from tests.surfaces import (
    DIVIDER,
    adaptive_card,
    assert_block_kit,
    assert_teams,
    container,
    context,
    fields,
    header,
    section,
    text_block,
)
from tests.test_digest import AC1, AC2, DAY, END, NY, H, add_failure
from tests.view_samples import DIGEST, quiet_day, several_accounts

TITLE = "Daily SMS failure digest · Mon 9 Mar 2026"
SUBTITLE = "Sun 8 Mar 08:00 – Mon 9 Mar 08:00 EDT · times in America/New_York"
DOCS = "https://www.twilio.com/docs/api/errors/"


def test_digest_post_in_slack():
    blocks, notification = slack.to_dicts(digest_view(DIGEST))
    assert blocks == [
        header(TITLE),
        context(SUBTITLE),
        section("*5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · 2 codes.*\n"
                "7-day trend `▁▃▁▄▁▇█` (per 24 h, oldest first)"),
        DIVIDER,
        section("*30003 · Unreachable destination handset · Carrier / content*\n"
                "*4 failures* · ▲ +2 (+100%) vs 2 · 7 days `▁▄▁▅▁▅█`\n"
                "The phone couldn't be reached &lt;off&gt;.\n"
                "*First step:* Retry later &amp; check.\n"
                "*For Support (3 or more message SIDs from the last 24 hours):*\n"
                "```SM1  to +1••••••0001\nSM2  to +1••••••0002\nSM3  to +1••••••0003```"),
        context(f"<{DOCS}30003|Twilio docs for 30003>"),
        DIVIDER,
        section("*21610 · Attempt to send to unsubscribed recipient · Contact / list hygiene*\n"
                "*1 failure* · ▼ −1 (−50%) vs 2 · 7 days `▁▁▁▁▁█▅`\n"
                "The patient opted out."),
        context(f"<{DOCS}21610|Twilio docs for 21610>"),
        DIVIDER,
        section("*List hygiene* · 1 recipient to remove from your lists: 1 opted out.\n"
                "For example: `+1••••••0009` opted out (21610)\n"
                "The full list (full numbers, for your own use only): `smserror hygiene --csv FILE`"),
    ]
    assert notification == (f"{TITLE}: 5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · "
                            "2 codes. Top: 30003 Unreachable destination handset (4), "
                            "21610 Attempt to send to unsubscribed recipient (1).")


def test_digest_post_in_teams():
    assert teams.card(digest_view(DIGEST)) == adaptive_card(
        text_block(TITLE, weight="Bolder", size="Medium"),
        text_block(SUBTITLE, isSubtle=True, spacing="None"),
        text_block("**5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · 2 codes.**",
                   spacing="Default"),
        text_block("7-day trend ▁▃▁▄▁▇█ (per 24 h, oldest first)", spacing="None"),
        container(
            text_block("30003 · Unreachable destination handset · Carrier / content", weight="Bolder"),
            text_block("**4 failures** · ▲ +2 (+100%) vs 2 · 7 days ▁▄▁▅▁▅█", spacing="None"),
            text_block("The phone couldn't be reached <off>.", spacing="None"),
            text_block("**First step:** Retry later & check.", spacing="None"),
            text_block("**For Support (3 or more message SIDs from the last 24 hours):**", spacing="None"),
            text_block("SM1  to +1••••••0001", fontType="Monospace", spacing="None"),
            text_block("SM2  to +1••••••0002", fontType="Monospace", spacing="None"),
            text_block("SM3  to +1••••••0003", fontType="Monospace", spacing="None"),
            text_block(f"[Twilio docs for 30003]({DOCS}30003)", isSubtle=True, size="Small"),
        ),
        container(
            text_block("21610 · Attempt to send to unsubscribed recipient · Contact / list hygiene", weight="Bolder"),
            text_block("**1 failure** · ▼ −1 (−50%) vs 2 · 7 days ▁▁▁▁▁█▅", spacing="None"),
            text_block("The patient opted out.", spacing="None"),
            text_block(f"[Twilio docs for 21610]({DOCS}21610)", isSubtle=True, size="Small"),
        ),
        container(
            text_block("**List hygiene** · 1 recipient to remove from your lists: 1 opted out.", spacing="Default"),
            text_block("For example: +1••••••0009 opted out (21610)", spacing="None"),
            text_block("The full list (full numbers, for your own use only): smserror hygiene --csv FILE",
                       spacing="None"),
        ),
    )


def test_digest_post_as_text():
    assert text.text(digest_view(DIGEST)) == f"""\
{TITLE}
{SUBTITLE}

5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · 2 codes.
7-day trend ▁▃▁▄▁▇█ (per 24 h, oldest first)

30003 · Unreachable destination handset · Carrier / content
  4 failures · ▲ +2 (+100%) vs 2 · 7 days ▁▄▁▅▁▅█
  The phone couldn't be reached <off>.
  First step: Retry later & check.
  For Support (3 or more message SIDs from the last 24 hours):
      SM1  to +1••••••0001
      SM2  to +1••••••0002
      SM3  to +1••••••0003
  Twilio docs for 30003 ({DOCS}30003)

21610 · Attempt to send to unsubscribed recipient · Contact / list hygiene
  1 failure · ▼ −1 (−50%) vs 2 · 7 days ▁▁▁▁▁█▅
  The patient opted out.
  Twilio docs for 21610 ({DOCS}21610)

List hygiene · 1 recipient to remove from your lists: 1 opted out.
For example: +1••••••0009 opted out (21610)
The full list (full numbers, for your own use only): smserror hygiene --csv FILE
"""


def test_fixes_thread_on_each_surface():
    view = fixes_view(DIGEST)
    assert slack.to_dicts(view) == ([
        section("*30003 · Unreachable destination handset*\n"
                "The phone couldn't be reached &lt;off&gt;.\n"
                "1. Retry later &amp; check.\n"
                "2. Ask the patient to restart the phone."),
        DIVIDER,
        section("*21610 · Attempt to send to unsubscribed recipient*\nThe patient opted out."),
    ], f"How to fix each code in {TITLE}")
    assert teams.card(view) == adaptive_card(
        text_block("30003 · Unreachable destination handset", weight="Bolder", size="Medium"),
        text_block("The phone couldn't be reached <off>.", spacing="None"),
        text_block("1. Retry later & check.", spacing="None"),
        text_block("2. Ask the patient to restart the phone.", spacing="None"),
        container(
            text_block("21610 · Attempt to send to unsubscribed recipient", weight="Bolder"),
            text_block("The patient opted out.", spacing="None"),
        ),
    )
    assert text.text(view) == """\
30003 · Unreachable destination handset
  The phone couldn't be reached <off>.
  1. Retry later & check.
  2. Ask the patient to restart the phone.

21610 · Attempt to send to unsubscribed recipient
  The patient opted out.
"""


def test_fixes_thread_falls_back_to_the_first_step():
    report = copy.deepcopy(DIGEST)
    del report["codes"][0]["steps"]  # a digest queued before the thread existed
    assert fixes_view(report).sections[0].steps == (("Retry later & check.",),)


def test_quiet_day_is_short_on_each_surface():
    view = digest_view(quiet_day())
    blocks, notification = slack.to_dicts(view)
    assert blocks == [header(TITLE), context(SUBTITLE),
                      section("✅ No failed or undelivered messages in the last 24 h.")]
    assert notification == f"{TITLE}: No failed or undelivered messages in the last 24 h."
    assert teams.card(view) == adaptive_card(
        text_block(TITLE, weight="Bolder", size="Medium", color="Good"),
        text_block(SUBTITLE, isSubtle=True, spacing="None"),
        text_block("✅ No failed or undelivered messages in the last 24 h.", spacing="Default"),
    )
    assert text.text(view) == f"{TITLE}\n{SUBTITLE}\n\n✅ No failed or undelivered messages in the last 24 h.\n"


def test_quiet_day_still_lists_recipients_to_remove():
    report = quiet_day()
    report["hygiene"] = copy.deepcopy(DIGEST["hygiene"])
    assert text.text(digest_view(report)).endswith(
        "✅ No failed or undelivered messages in the last 24 h.\n\n"
        "List hygiene · 1 recipient to remove from your lists: 1 opted out.\n"
        "For example: +1••••••0009 opted out (21610)\n"
        "The full list (full numbers, for your own use only): smserror hygiene --csv FILE\n")


def test_several_accounts_are_shown_separately():
    view = digest_view(several_accounts())
    blocks, _ = slack.to_dicts(view)
    assert blocks[2:5] == [
        section("*5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · 2 codes.*\n"
                "7-day trend `▁▃▁▄▁▇█` (per 24 h, oldest first)"),
        fields(f"*{AC1}*\n4 failures", f"*Glow &lt;Clinic&gt; ({AC2})*\n1 failure"),
        DIVIDER,
    ]
    assert blocks[5]["text"]["text"].split("\n")[2] == f"By account: `{AC1}` 3 · Glow &lt;Clinic&gt; (`{AC2}`) 1"
    assert blocks[8]["text"]["text"].split("\n")[2] == f"By account: `{AC1}` 1"
    card = teams.card(view)
    assert card["body"][4] == {"type": "FactSet", "facts": [
        {"title": AC1, "value": "4 failures"}, {"title": f"Glow <Clinic> ({AC2})", "value": "1 failure"}]}
    assert card["body"][5]["items"][2] == text_block(f"By account: {AC1} 3 · Glow <Clinic> ({AC2}) 1", spacing="None")
    assert text.text(view).split("\n")[4:8] == [
        "7-day trend ▁▃▁▄▁▇█ (per 24 h, oldest first)",
        f"{AC1}: 4 failures",
        f"Glow <Clinic> ({AC2}): 1 failure",
        "",
    ]
    # one account: no per-account noise
    assert "By account" not in json.dumps(slack.to_dicts(digest_view(DIGEST)))


def test_several_accounts_from_the_store(db):
    db.execute("INSERT INTO poll_state (account_sid, friendly_name) VALUES (?, ?)", [AC2, "Glow Clinic"])
    for i in range(3):
        add_failure(db, f"SMa{i}", 30007, END - H - i, account=AC1)
    add_failure(db, "SMb", 30007, END - H, account=AC2)
    add_failure(db, "SMc", 30034, END - H, account=AC2)
    report = build_report(db, END - DAY, END, tz=NY, period="p", title="t", window_label="24 h", now=END)
    view = digest_view(report.to_dict())
    changed, summary = view.sections[:2]  # the fleet's digest leads with the clinics that changed most
    assert changed.title == ("Clinics that changed most",)
    new = (" · ", "new, none before")
    assert [(fact.label, fact.value) for fact in changed.facts] == [
        (AC1, ("3 failures", *new)), (f"Glow Clinic ({AC2})", ("2 failures", *new))]
    assert [(fact.label, fact.value) for fact in summary.facts] == [
        (AC1, ("3 failures",)), (f"Glow Clinic ({AC2})", ("2 failures",))]
    shown = text.text(view)
    assert f"By account: {AC1} 3 · Glow Clinic ({AC2}) 1" in shown and f"By account: Glow Clinic ({AC2}) 1" in shown


def test_the_outbox_json_gives_the_same_views(db):
    add_failure(db, "SM1", 30007, END - H)
    add_failure(db, "SM2", 30007, END - H, account=AC2)
    report = build_report(db, END - DAY, END, tz=NY, period="p", title="t", window_label="24 h", now=END)
    stored = json.loads(json.dumps(report.to_dict()))
    assert digest_view(stored) == digest_view(report.to_dict())
    assert fixes_view(stored) == fixes_view(report.to_dict())


def _code(n: int) -> dict:
    entry = copy.deepcopy(DIGEST["codes"][1])
    entry.update(code=20000 + n, count=100 - n, title=f"Code {n}")
    return entry


def test_the_tail_of_codes_folds_into_one_line_and_the_terminal_shows_all():
    report = copy.deepcopy(DIGEST)
    report["codes"] = [_code(n) for n in range(MAX_CODES + 2)]
    view = digest_view(report)
    assert len(view.sections) == 1 + MAX_CODES + 2
    blocks, _ = slack.to_dicts(view)
    # 52 blocks with a divider above each code: the dividers go, every word stays
    assert DIVIDER not in blocks and len(blocks) == 2 + 1 + 2 * MAX_CODES + 2
    assert blocks[-2:] == [
        context("…and 2 more codes (169 failures): 20015 (85), 20016 (84)"),
        section("*List hygiene* · 1 recipient to remove from your lists: 1 opted out.\n"
                "For example: `+1••••••0009` opted out (21610)\n"
                "The full list (full numbers, for your own use only): `smserror hygiene --csv FILE`"),
    ]
    shown = text.text(digest_view(report, full=True))
    assert "20016 · Code 16 ·" in shown and "more codes" not in shown


def test_sparkline_and_change():
    assert sparkline([0, 0, 0, 0, 0, 0, 0]) == "▁▁▁▁▁▁▁"
    assert sparkline([0, 1, 100, 50, 0, 0, 100]) == "▁▂█▅▁▁█"  # any failure shows above the floor
    assert change(5, 0) == "new, none before"
    assert change(0, 0) == "no change"
    assert change(3, 3) == "no change vs 3"
    assert change(1, 4) == "▼ −3 (−75%) vs 4"


# -- the largest day ---------------------------------------------------------------------------

PLANTED = "+15551234567"


def section_texts(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


def context_starting(blocks: list[dict], prefix: str) -> bool:
    return any(b["type"] == "context" and b["elements"][0]["text"].startswith(prefix) for b in blocks)


@pytest.fixture(scope="module")
def huge_day(tmp_path_factory) -> dict:
    """300 distinct codes in one day; the busiest have evidence; every recipient is one full
    number, an account's friendly name holds it too, and the title is far too long. As the
    outbox stores it (JSON)."""
    db = open_db(tmp_path_factory.mktemp("huge") / "huge.db")
    db.execute("INSERT INTO poll_state (account_sid, friendly_name) VALUES (?, ?)", [AC2, f"Clinic {PLANTED}"])
    evidence_codes = [30003, 30004, 30005, 30007, 30008, 30024, 21610, 21614, 30006]
    others = [c for c in range(10001, 10400) if c not in evidence_codes][: 300 - len(evidence_codes)]
    n = 0
    for rank, code in enumerate(evidence_codes + others):
        for _ in range(max(1, 40 - rank)):
            n += 1
            add_failure(db, f"SM{n:032x}", code, END - 1 - (n % 80_000), account=AC1 if n % 3 else AC2,
                        recipient=PLANTED)
    report = build_report(db, END - DAY, END, tz=NY, period="daily:2026-03-09", now=END, window_label="24 h",
                          title="Daily SMS failure digest · " + "x" * 300)
    db.close()
    return json.loads(json.dumps(report.to_dict()))


def test_300_codes_within_block_kit_limits(huge_day):
    assert len(huge_day["codes"]) == 300
    blocks, notification = slack.to_dicts(digest_view(huge_day))
    assert_block_kit(blocks, notification)
    assert [b["type"] for b in blocks].count("header") == 1
    assert len([text for text in section_texts(blocks) if re.match(r"\*\d+ · ", text)]) == MAX_CODES
    assert context_starting(blocks, f"…and {300 - MAX_CODES} more codes")
    assert blocks[-1]["text"]["text"].startswith("*List hygiene* · "), "nothing is cut off the end"


def test_300_codes_fixes_thread_within_block_kit_limits(huge_day):
    blocks, notification = slack.to_dicts(fixes_view(huge_day))
    assert_block_kit(blocks, notification)
    fixes = section_texts(blocks)
    assert len(fixes) == MAX_CODES
    assert all("\n1. " in fix for fix in fixes[:9]), "the busiest codes are ours, with their steps"


def test_300_codes_teams_cards_are_valid_and_fit_unshortened(huge_day):
    post, fixes = teams.card(digest_view(huge_day)), teams.card(fixes_view(huge_day))
    assert_teams({"digest": post, "fixes": fixes})
    assert teams.fit_card(post) is post and teams.fit_card(fixes) is fixes
    assert len([item for item in post["body"] if item["type"] == "Container"]) == MAX_CODES + 2
    assert any(item["text"].startswith(f"…and {300 - MAX_CODES} more codes")
               for c in post["body"] if c["type"] == "Container" for item in c["items"])


def test_no_full_phone_number_in_any_rendering(huge_day):
    rendered = [json.dumps(huge_day, ensure_ascii=False)]  # the outbox payload too
    for view in (digest_view(huge_day), digest_view(huge_day, full=True), fixes_view(huge_day)):
        blocks, notification = slack.to_dicts(view)
        rendered += [json.dumps(blocks, ensure_ascii=False), notification,
                     json.dumps(teams.message(teams.card(view)), ensure_ascii=False), text.text(view)]
    for out in rendered:
        assert PLANTED not in out and PLANTED[1:] not in out and "5551234567" not in out
    assert all("+1••••••4567" in out for out in rendered[:2]), "masked, numbers still tell apart"


def test_extreme_free_text_is_clipped_not_rejected():
    report = several_accounts()
    entry = report["codes"][0]
    entry.update(title="T" * 400, meaning="M" * 10_000, first_step="S" * 10_000, category_label="C" * 300,
                 steps=["P" * 5000] * 30)
    entry["accounts"] = [[f"AC{i:032d}", i] for i in range(60)]
    report["accounts"] = [{"sid": f"AC{i:032d}", "name": "N" * 500, "total": i} for i in range(60)]
    report["title"] = "H" * 1000
    for view in (digest_view(report), fixes_view(report)):
        blocks, notification = slack.to_dicts(view)
        assert_block_kit(blocks, notification)
        assert_teams({"card": teams.fit_card(teams.card(view))})
    [code] = [text for text in section_texts(slack.to_dicts(digest_view(report))[0]) if text.startswith("*30003 · ")]
    assert code.endswith("```SM1  to +1••••••0001\nSM2  to +1••••••0002\nSM3  to +1••••••0003```"), \
        "a cut never breaks the block of SIDs"

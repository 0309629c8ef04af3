"""The emitters' mechanics, on small hand-built views: escaping, spans (Time, Link, Mention,
bold), clipping at each limit, buttons and menus, the 50-block cap, Teams' size limit and fact
titles. And the cross-emitter rule: every message says the same on Slack, Teams and text."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from bot.emit import slack, teams, text
from jobs.views.model import Action, Code, Fact, Link, Mention, Option, Section, Strong, Time, View, line
from tests.fakes.teams_webhook import LIMIT
from tests.surfaces import (
    actions,
    assert_block_kit,
    assert_teams,
    button,
    card_problems,
    content,
    context,
    header,
    missing_content,
    section,
    text_block,
)
from tests.view_samples import sample_views

AC = "AC" + "1" * 32
EPOCH = 1_800_000_000
UTC = "2027-01-15 08:00 UTC"


def view(*sections: Section, **fields) -> View:
    return View(**{"title": "T", "fallback": "F", "header": False, "sections": sections, **fields})


# -- every message, every surface --------------------------------------------------------------

@pytest.mark.parametrize("name", sample_views())
def test_every_message_says_the_same_on_every_surface(name):
    shown = sample_views()[name]
    assert missing_content(shown) == {"slack": [], "teams": [], "text": []}
    assert_block_kit(*slack.to_dicts(shown))


def test_every_message_is_a_valid_adaptive_card():
    assert_teams({name: teams.card(shown) for name, shown in sample_views().items()})


def test_content_is_every_word_in_the_tree():
    shown = View(title="Title", fallback="not content", mention="<!here>", subtitle=line("Sub"), sections=(
        Section(title=line("Head"), lines=(line("a ", Code("b"), Strong("c"), Time(EPOCH), Link("https://l", "d"),
                                                Mention("U1")),),
                facts=(Fact("Label", line("value")),), steps=(line("step"),), mono=("SM1",), note=line("note"),
                actions=(Action("id", "Click", value="v"), Action("id2", "Docs", url="https://docs"),
                         Action("id3", "Menu", options=(Option("one", "1"),)))),))
    assert list(content(shown)) == ["Title", "Sub", "Head", "a", "b", "c", UTC, "https://l", "d", "U1", "Label",
                                    "value", "step", "SM1", "note", "Docs", "https://docs"]
    assert "Title" not in list(content(View(title="Title", fallback="F", header=False)))


def test_a_field_no_emitter_knows_is_found_missing():
    @dataclasses.dataclass(frozen=True)
    class Tabled(Section):
        table: tuple[str, ...] = ()

    shown = view(Tabled(lines=(line("known"),), table=("a new field",)))
    assert missing_content(shown) == {"slack": ["a new field"], "teams": ["a new field"], "text": ["a new field"]}


# -- spans ---------------------------------------------------------------------------------------

SPANS = line("a <!channel> & b ", Code("<x>`y"), " ", Strong("<s>"), " ", Link("https://e.x/?q=1", "<l>|m"), " ",
             Mention("U42"), " ", Time(EPOCH), " ", Time(0))


def test_spans_in_slack_are_escaped_mrkdwn():
    assert slack.mrkdwn(SPANS) == (
        "a &lt;!channel&gt; &amp; b `&lt;x&gt;ʹy` *&lt;s&gt;* <https://e.x/?q=1|&lt;l&gt;¦m> <@U42> "
        f"<!date^{EPOCH}^{{date_short_pretty}} {{time}}|{UTC}> —")


def test_spans_in_teams_are_markdown_and_utc():
    assert teams.markdown(SPANS) == f"a <!channel> & b <x>`y **<s>** [<l>|m](https://e.x/?q=1) U42 {UTC} —"


def test_spans_in_text_are_plain_and_utc():
    assert text.text(view(Section(lines=(SPANS,)))) == (
        f"a <!channel> & b <x>`y <s> <l>|m (https://e.x/?q=1) @U42 {UTC} —\n")


@pytest.mark.parametrize("words, slack_bold, teams_bold", [
    ("First step: ", "*First step:* ", "**First step:** "),
    (" both ", " *both* ", " **both** "),
    ("   ", "   ", "   "),
])
def test_bold_hugs_its_words(words, slack_bold, teams_bold):
    assert slack.span(Strong(words)) == slack_bold
    assert teams.span(Strong(words)) == teams_bold


def test_nothing_typed_can_ping_a_channel():
    typed = "<!channel> <!here> <@U1> & <https://evil|click>"
    shown = View(title=typed, fallback=typed, subtitle=line(typed), sections=(
        Section(title=line(typed), lines=(line(typed, Code(typed), Strong(typed)),), facts=(Fact(typed, line(typed)),),
                steps=(line(typed),), mono=(typed,), note=line(typed)),))
    blocks, notification = slack.to_dicts(shown)
    assert blocks[0] == header(typed)  # plain text: Slack shows it as typed and parses nothing
    for out in [json.dumps(blocks[1:]), notification]:
        assert "<!" not in out and "<@" not in out and "<https" not in out
    assert notification == "&lt;!channel&gt; &lt;!here&gt; &lt;@U1&gt; &amp; &lt;https://evil|click&gt;"


# -- Slack: clipping and limits ------------------------------------------------------------------

def test_the_header_is_clipped_to_150():
    blocks, _ = slack.to_dicts(View(title="H" * 400, fallback="F"))
    assert blocks == [header("H" * 149 + "…")]


def test_a_long_section_shares_3000_and_keeps_its_code_block_whole():
    sids = tuple(f"SM{n:032d}" for n in range(5))
    blocks, _ = slack.to_dicts(view(Section(title=line("Head"), lines=(line("M" * 5000), line("short")),
                                            steps=(line("S" * 5000),), mono=sids)))
    [shown] = blocks
    text_ = shown["text"]["text"]
    assert len(text_) == 3000
    assert text_.startswith("*Head*\n" + "M" * 1000) and "\nshort\n1. " in text_
    assert text_.endswith("…\n```" + "\n".join(sids) + "```")
    assert_block_kit(blocks, "F")


def test_a_huge_code_block_keeps_both_fences():
    blocks, _ = slack.to_dicts(view(Section(mono=tuple("SM" + "9" * 40 for _ in range(200)))))
    shown = blocks[0]["text"]["text"]
    assert len(shown) == 3000 and shown.startswith("```SM999") and shown.endswith("…```")


def test_fields_notes_buttons_and_the_notification_are_clipped():
    blocks, notification = slack.to_dicts(View(title="T", fallback="F" * 5000, header=False, sections=(
        Section(facts=(Fact("L", line("V" * 3000)),), note=line("N" * 4000),
                actions=(Action("a", "B" * 100, value="v"),)),)))
    assert blocks[0]["fields"][0]["text"] == "*L*\n" + "V" * (2000 - 4 - 1) + "…"
    assert blocks[1]["elements"][0]["text"] == "N" * 2999 + "…"
    assert blocks[2]["elements"][0]["text"]["text"] == "B" * 74 + "…"
    assert notification == "F" * 2999 + "…"
    assert_block_kit(blocks, notification)


def test_more_than_ten_facts_take_two_blocks():
    blocks, _ = slack.to_dicts(view(Section(facts=tuple(Fact(f"L{n}", line(str(n))) for n in range(12)))))
    assert [len(block["fields"]) for block in blocks] == [10, 2]
    assert blocks[1]["fields"][1]["text"] == "*L11*\n11"


def test_an_empty_fact_shows_a_dash_everywhere():
    shown = view(Section(facts=(Fact("Sender", ()),)))
    assert slack.to_dicts(shown)[0] == [{"type": "section", "fields": [{"type": "mrkdwn", "text": "*Sender*\n—"}]}]
    assert teams.card(shown)["body"] == [{"type": "FactSet", "facts": [{"title": "Sender", "value": "—"}]}]
    assert text.text(shown) == "Sender: —\n"


def test_over_50_blocks_the_dividers_go_first_then_the_tail():
    divided = view(*(Section(lines=(line(f"s{n}"),), divider=True) for n in range(30)))
    blocks, _ = slack.to_dicts(divided)
    assert blocks == [section(f"s{n}") for n in range(30)]
    crowded = view(*(Section(lines=(line(f"s{n}"),)) for n in range(60)))
    blocks, _ = slack.to_dicts(crowded)
    assert blocks == [section(f"s{n}") for n in range(49)] + [context(slack.SHORTENED)]
    assert_block_kit(blocks, "F")


def test_a_mention_leads_the_first_section_and_the_notification():
    shown = view(Section(title=line("Alert")), Section(lines=(line("more"),)), mention="<!subteam^S1>")
    assert slack.to_dicts(shown) == ([section("<!subteam^S1> *Alert*"), section("more")], "<!subteam^S1> F")
    with_header = View(title="Digest", fallback="F", mention="<!here>", sections=(Section(title=line("Head")),))
    assert slack.to_dicts(with_header) == ([header("Digest"), section("*Head*")], "<!here> F")


# -- Slack: buttons and menus --------------------------------------------------------------------

def test_buttons_links_and_menus():
    shown = view(Section(actions=(
        Action("ack", "Acknowledge", value="g1", primary=True),
        Action("docs", "Twilio docs", url="https://docs"),
        Action("snooze", "Snooze…", options=(Option("1 hour", "3600"), Option("Until tomorrow", "86400"))),
    )))
    assert slack.to_dicts(shown)[0] == [actions(
        button("Acknowledge", "ack", value="g1", style="primary"),
        button("Twilio docs", "docs", url="https://docs"),
        {"type": "static_select", "action_id": "snooze",
         "placeholder": {"type": "plain_text", "text": "Snooze…"},
         "options": [{"text": {"type": "plain_text", "text": "1 hour"}, "value": "3600"},
                     {"text": {"type": "plain_text", "text": "Until tomorrow"}, "value": "86400"}]},
    )]
    assert teams.card(shown)["actions"] == [{"type": "Action.OpenUrl", "title": "Twilio docs", "url": "https://docs"}]
    assert text.text(shown) == "Twilio docs: https://docs\n"


def test_a_menu_of_many_options_is_cut_to_slacks_hundred():
    options = tuple(Option(f"option {n} " + "x" * 100, str(n)) for n in range(150))
    blocks, _ = slack.to_dicts(view(Section(actions=(Action("m", "Pick", options=options),))))
    [menu] = blocks[0]["elements"]
    assert len(menu["options"]) == 100 and len(menu["options"][0]["text"]["text"]) == 75
    assert_block_kit(blocks, "F")


# -- Teams ---------------------------------------------------------------------------------------

def test_tone_colours_the_headline():
    alert = teams.card(view(Section(title=line("Down")), Section(title=line("More")), tone="alert"))
    assert alert["body"] == [text_block("Down", weight="Bolder", size="Medium", color="Attention"),
                             text_block("More", weight="Bolder")]
    good = teams.card(View(title="Digest", fallback="F", tone="good"))
    assert good["body"] == [text_block("Digest", weight="Bolder", size="Medium", color="Good")]


def test_each_step_and_sid_is_its_own_text_block():
    card = teams.card(view(Section(steps=(line("one"), line("two")), mono=("SM1", "SM2"))))
    assert card["body"] == [
        text_block("1. one", spacing="None"), text_block("2. two", spacing="None"),
        text_block("SM1", fontType="Monospace", spacing="None"),
        text_block("SM2", fontType="Monospace", spacing="None")]
    assert "\r" not in json.dumps(card)  # Teams shows a carriage return as no break at all


@pytest.mark.parametrize("label, title", [
    ("N" * 500 + f" ({AC})", "N" * 62 + f"… ({AC})"),
    ("N" * 500, "N" * 99 + "…"),
    (f"Glow Clinic ({AC})", f"Glow Clinic ({AC})"),
])
def test_fact_titles_are_clipped_keeping_the_sid(label, title):
    [fact_set] = teams.card(view(Section(facts=(Fact(label, line("4 failures")),))))["body"]
    assert fact_set["facts"] == [{"title": title, "value": "4 failures"}]
    assert len(title) <= teams.FACT_TITLE_LIMIT


def test_texts_are_clipped_to_2000():
    card = teams.card(view(Section(lines=(line("L" * 5000),), facts=(Fact("F", line("V" * 5000)),))))
    assert card["body"][0]["text"] == "L" * 1999 + "…" and card["body"][1]["facts"][0]["value"] == "V" * 1999 + "…"


def test_a_card_that_fits_is_left_alone_and_wrapped_for_the_webhook():
    card = teams.card(view(Section(lines=(line("hello"),))))
    assert teams.fit_card(card) is card
    assert teams.message(card) == {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def _rows(n: int) -> list[dict]:
    return [text_block(f"{i}: 30007 x {i} — Message filtered " + "y" * 200) for i in range(n)]


def test_a_card_too_big_loses_its_tail_and_says_so():
    card = {"type": "AdaptiveCard", "version": "1.4", "body": _rows(400)}
    original = copy.deepcopy(card)
    assert teams.message_size(card) > LIMIT
    fitted = teams.fit_card(card)
    assert card == original, "the original is not modified"
    assert teams.MAX_MESSAGE_BYTES - 300 < teams.message_size(fitted) <= teams.MAX_MESSAGE_BYTES < LIMIT
    assert fitted["body"][:-1] == card["body"][: len(fitted["body"]) - 1]
    assert fitted["body"][-1] == text_block(teams.SHORTENED_NOTE, isSubtle=True, size="Small")
    assert len(teams.encode(teams.message(card))) <= teams.MAX_MESSAGE_BYTES
    assert card_problems({"fitted": fitted}) == {}


def test_a_single_huge_text_is_cut_not_dropped():
    card = {"type": "AdaptiveCard", "version": "1.4", "body": [text_block("é" * 30_000), text_block("z" * 30_000)]}
    fitted = teams.fit_card(card)
    assert teams.message_size(fitted) <= teams.MAX_MESSAGE_BYTES
    assert fitted["body"][0]["text"].startswith("ééé") and fitted["body"][-1]["text"] == teams.SHORTENED_NOTE


def test_a_card_that_cannot_be_shortened_becomes_the_note_alone():
    links = [{"type": "Action.OpenUrl", "title": "t", "url": "https://e.x/" + "u" * 100}] * 400
    fitted = teams.fit_card({"type": "AdaptiveCard", "version": "1.4", "body": _rows(1), "actions": links})
    assert fitted["body"] == [text_block(teams.SHORTENED_NOTE, isSubtle=True, size="Small")]
    assert "actions" not in fitted and teams.message_size(fitted) <= teams.MAX_MESSAGE_BYTES


# -- text ----------------------------------------------------------------------------------------

def test_text_clips_nothing_and_indents_under_a_title():
    shown = View(title="Title", fallback="F", subtitle=line("Sub"), sections=(
        Section(title=line("Head"), lines=(line("L" * 10_000),), facts=(Fact("K", line("V")),), steps=(line("s"),),
                mono=("SM1",), note=line("small"), actions=(Action("d", "Docs", url="https://d"),)),
        Section(lines=(line("plain"),)),
    ))
    assert text.text(shown) == (f"Title\nSub\n\nHead\n  {'L' * 10_000}\n  K: V\n  1. s\n      SM1\n  small\n"
                                "  Docs: https://d\n\nplain\n")

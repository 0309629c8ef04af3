"""The knowledge base: article coverage, the facts the article insists on, and lookup behaviour."""

from __future__ import annotations

import json
import time
from importlib import resources

import pytest

from storage import knowledge
from storage.knowledge import CATEGORY_LABELS, MAX_QUERY, CodeInfo, Evidence, category_of, get, lookup, search

# Kept here on purpose, not read from knowledge.json: the test must notice a code going missing.
ARTICLE_CATEGORIES = {
    11200: "media",
    11751: "carrier",
    21211: "contact",
    21408: "account",
    21606: "account",
    21610: "contact",
    21612: "carrier",
    21614: "contact",
    21635: "contact",
    21661: "account",
    30002: "account",
    30003: "carrier",
    30004: "carrier",
    30005: "contact",
    30006: "contact",
    30007: "carrier",
    30008: "carrier",
    30011: "carrier",
    30023: "account",
    30024: "account",
    30032: "account",
    30033: "account",
    30034: "account",
    30037: "account",
}
GUIDE_CODES = (30001, 30009, 30010, 30017, 30019, 30022, 30027, 30035, 21611, 21617, 21703, 63016)


def _text(card: CodeInfo) -> str:
    return "\n".join((card.meaning, *card.steps, *card.notes))


def test_the_article_lists_24_codes():
    assert len(ARTICLE_CATEGORIES) == 24


@pytest.mark.parametrize("code,category", sorted(ARTICLE_CATEGORIES.items()))
def test_every_article_code_has_meaning_steps_and_its_category(code, category):
    card = get(code)
    assert card is not None
    assert card.source == "article"
    assert len(card.meaning) > 20
    assert len(card.steps) >= 1 and all(step.strip() for step in card.steps)
    assert card.category == category
    assert category_of(code) == category
    assert card.title and card.log_level
    assert card.docs_url == f"https://www.twilio.com/docs/api/errors/{code}"


@pytest.mark.parametrize("code", GUIDE_CODES)
def test_common_codes_beyond_the_article_have_our_guidance(code):
    card = get(code)
    assert card.source == "guide"
    assert card.meaning and card.steps
    assert card.category in CATEGORY_LABELS


@pytest.mark.parametrize(
    "code,fact",
    [
        (21211, "+15551234567"),
        (21211, "E.164"),
        (11751, "5 MB"),
        (21610, "START"),
        (21610, "number they opted out from"),
        (30034, "24 hours"),
        (30034, "test"),
        (21606, "Settings → Phone Numbers"),
        (21661, "Settings → Phone Numbers"),
        (21606, "ported"),
        (21606, "same country"),
        (21408, "Iran"),
        (30023, "EIN"),
        (30032, "Aesthetix CRM"),
        (11200, "CNAME"),
        (30007, "30 days"),
        (30007, "18 months"),
        (30007, "Reply 2"),
        (30007, "snowshoeing"),
        (30007, "Bitly"),
        (30007, "redirect once"),
        (30007, "DND"),
        (30007, "copy the URL"),
        (21635, "Scrub"),
        (30006, "Scrub"),
        (30034, "however small"),
        (30033, "however small"),
    ],
)
def test_the_article_specifics_are_carried_over(code, fact):
    assert fact in _text(get(code))


def test_nobody_can_resubscribe_a_patient_for_them():
    text = _text(get(21610))
    assert "No one can do it for them" in text


@pytest.mark.parametrize(
    "code,evidence",
    [
        (30003, Evidence(3, 24, "message SIDs")),
        (30004, Evidence(3, 24, "message SIDs")),
        (30005, Evidence(3, 24, "message SIDs")),
        (30007, Evidence(3, 168, "contact links")),
        (30008, Evidence(3, 48, "message SIDs")),
        (30024, Evidence(3, None, "message IDs")),
    ],
)
def test_evidence_support_needs(code, evidence):
    assert get(code).evidence == evidence


def test_codes_without_an_evidence_rule_have_none():
    assert get(21610).evidence is None
    assert get(20003).evidence is None


@pytest.mark.parametrize("code", [20003, 11100])
def test_a_dictionary_code_has_title_product_and_docs(code):
    card = get(code)
    assert card.source == "dictionary"
    assert card.title and card.title in card.meaning
    assert card.steps == ()
    assert card.category == "other"
    assert card.docs_url.endswith(f"/{code}")
    assert card.log_level in ("ERROR", "WARNING")


def test_dictionary_product_is_kept():
    assert get(30007).product == "Programmable SMS"
    assert get(22225).product == "Phone Numbers"


def test_codes_missing_from_twilios_dictionary_use_our_titles():
    for code in (21635, 21661, 30037):
        assert get(code).title and get(code).product


def test_the_tsv_holds_the_whole_dictionary_and_nothing_but_facts():
    lines = resources.files("storage").joinpath("twilio_codes.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["code", "title", "product", "log_level"]
    rows = [line.split("\t") for line in lines[1:]]
    assert 1900 <= len(rows) <= 2100
    assert all(len(row) == 4 for row in rows)
    assert len({row[0] for row in rows}) == len(rows)
    assert max(len(row[1]) for row in rows) < 400  # titles only; no description ever got in


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in knowledge.json: {keys}"
    return dict(pairs)


def test_knowledge_json_uses_known_categories_sources_and_guidance():
    text = resources.files("storage").joinpath("knowledge.json").read_text(encoding="utf-8")
    data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    for key, entry in data["codes"].items():
        assert entry["category"] in CATEGORY_LABELS, key
        assert entry["source"] in ("article", "guide"), key
        assert entry.get("aliases"), key
        for block in entry.get("guidance", []):
            assert block in data["guidance"], (key, block)


def test_category_labels():
    assert CATEGORY_LABELS["account"] == "Account / registration"
    assert CATEGORY_LABELS["contact"] == "Contact / list hygiene"
    assert CATEGORY_LABELS["carrier"] == "Carrier / content"
    assert CATEGORY_LABELS["media"] == "Media domain"
    assert get(11200).category_label == "Media domain"
    assert category_of(99999) == "other"


# ---------------------------------------------------------------- lookup


@pytest.mark.parametrize("text", ["30034", "Error 30034", "error  30034", "#30034", "Error: 30034", "error code 30034?", "what does twilio error 30034 mean"])
def test_a_code_in_any_usual_wrapping_gives_its_card(text):
    result = lookup(text)
    assert result.kind == "card"
    assert result.card.code == 30034
    assert result.card.steps


def test_get_accepts_ints_and_strings_and_refuses_junk():
    assert get(30007).code == 30007
    assert get("30007").code == 30007
    assert get("Error 30007").code == 30007
    assert get("spam") is None
    assert get(99999) is None
    assert get("") is None
    assert get(True) is None


def test_words_rank_the_curated_answer_first():
    assert lookup("opted out").matches[0].code == 21610
    assert search("unsubscribed")[0].code == 21610
    assert search("stop")[0].code == 21610
    assert search("spam")[0].code == 30007
    assert search("filtered")[0].code == 30007
    assert {c.code for c in search("10dlc", 3)} <= {30033, 30034, 30022, 30035, 30027, 30023}
    assert 30033 in {c.code for c in search("campaign suspended", 2)}


def test_landline_finds_the_three_landline_codes_at_the_top():
    result = lookup("landline")
    assert result.kind == "matches"
    assert [c.code for c in result.matches[:3]] == [21635, 30006, 21614]
    assert [c.code for c in search("landlines", 3)] == [21635, 30006, 21614]


@pytest.mark.parametrize("word", ["queue", "suspended", "stop", "filtered", "mms", "permission", "toll", "landline"])
def test_for_one_word_curated_codes_come_before_bare_dictionary_titles(word):
    sources = [card.source for card in search(word, 20)]
    assert "dictionary" in sources  # the word is in dictionary titles too, so the order is tested
    first_dictionary = sources.index("dictionary")
    assert "article" not in sources[first_dictionary:] and "guide" not in sources[first_dictionary:]


def test_search_also_finds_dictionary_titles():
    assert 20003 in {c.code for c in search("permission denied", 2)}
    assert 11100 in {c.code for c in search("invalid url format")}


def test_search_respects_the_limit():
    assert len(search("number", 2)) == 2
    assert search("number", 0) == []
    assert search("") == []


def test_a_near_miss_suggests_the_curated_code():
    result = lookup("30070")
    assert result.kind == "did_you_mean"
    assert result.matches[0].code == 30007
    assert "30007" in result.message
    assert lookup("3007").matches[0].code == 30007  # a dropped digit


def test_an_unknown_number_gives_not_found_with_the_docs_link():
    result = lookup("99999")
    assert result.kind == "not_found"
    assert "https://www.twilio.com/docs/api/errors/99999" in result.message
    assert result.card is None and result.matches == ()


def test_a_phone_number_is_not_a_code():
    assert lookup("15551234567").kind == "not_found"


def test_words_that_match_nothing():
    result = lookup("zyxwvut qqq")
    assert result.kind == "not_found"
    assert "zyxwvut" in result.message


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x1b"])
def test_empty_input_gives_usage(text):
    result = lookup(text)
    assert result.kind == "usage"
    assert result.message


def test_query_is_normalised_and_clipped_but_not_escaped():
    assert lookup("  opted\n\tout  ").query == "opted out"
    assert lookup("<b>landline</b>").query == "<b>landline</b>"
    long = lookup("landline " * 10_000)
    assert len(long.query) <= MAX_QUERY
    assert long.kind == "matches"


def test_lookups_are_fast_after_load():
    lookup("30007")
    queries = ["30007", "opted out", "30070", "landline phone number not valid", "99999", "x" * 5000]
    start = time.perf_counter()
    for _ in range(50):
        for query in queries:
            lookup(query)
    per_lookup = (time.perf_counter() - start) / (50 * len(queries))
    assert per_lookup < 0.001


def test_loading_happens_once():
    first = knowledge._knowledge()
    lookup("30007")
    assert knowledge._knowledge() is first

"""The knowledge base: article coverage, the facts the article insists on, and lookup behaviour."""

from __future__ import annotations

import json
import re
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


# What the help article says about each of its codes, as our own list of facts: figures, places,
# steps and conditions a card must keep (matched case-insensitively in meaning, steps, notes and
# the evidence rule). Kept here on purpose: a rewrite of a card must not lose one.
ARTICLE_FACTS: dict[int, tuple[str, ...]] = {
    11200: ("image", "branded media domain", "DNS", "CNAME", "correct host", "send the image again"),
    11751: ("larger than the carrier", "compress", "5 MB", "US and Canadian"),
    21211: ("isn't a real phone number", "E.164", "+15551234567", "country calling code", "mistyped",
            "a number from that same number", "short code", "alphanumeric sender ID", "can't receive texts"),
    21408: ("country or region", "surprise charges", "ask Support to enable", "Iran", "regulatory"),
    21606: ("Settings → Phone Numbers", "SMS-capable", "belongs to this account", "E.164", "(a port)", "(hosting)",
            "completely finished", "short code", "same country"),
    21610: ("STOP", "Do Not Disturb (DND)", "START", "opt-in keyword", "Remove unsubscribed numbers", "consent",
            "new owner who never opted in", "the very number they opted out from", "No one can do it for them"),
    21612: ("international routing", "E.164", "+15551234567", "local number in the destination country",
            "allowed to send internationally", "certain sender types", "contact Support"),
    21614: ("landline", "mobile", "E.164", "Take landlines off", "IoT", "machine-to-machine", "contact Support"),
    21635: ("landline", "Remove the landline", "sure it really is a mobile", "Scrub"),
    21661: ("Settings → Phone Numbers", "messaging is turned on", "SMS-capable", "or add one"),
    30002: ("suspended", "queue", "billing", "policy violation", "Contact Support", "restored"),
    30003: ("switched off", "no signal", "temporary", "Retry later", "receives other texts", "toll-free",
            "carrier filtering", "3 or more message IDs from the last 24 hours"),
    30004: ("blocked", "opted out", "DND", "number is valid", "record of failed deliveries",
            "3 or more message IDs from the last 24 hours"),
    30005: ("inactive", "no longer exists", "E.164", "Clean inactive", "valid keep failing",
            "3 or more message IDs from the last 24 hours"),
    30006: ("landline", "carrier can't be reached", "off the lists", "can receive SMS", "Scrub"),
    30007: ("spam", "opted in", "named as the sender", "STOP", "link shortener", "undelivered", "different contacts",
            "past 7 days", "30 days", "Reply 2", "18 months", "opt-outs", "payday loans", "debt relief", "cannabis",
            "snowshoeing", "location or business unit", "SMS guidelines", "Bitly", "TinyURL", "yourpractice.com/offer",
            "registered with the A2P campaign", "redirect once", "ALL CAPS", "Do Not Disturb",
            "switch the contact to DND", "by name or number", "copy the URL", "filtered again",
            "Carriers filter differently"),
    30008: ("no reason", "shorter", "special characters", "48 hours", "contact Support"),
    30011: ("MMS", "turn MMS", "reply by SMS", "region"),
    30023: ("daily message cap", "per registered brand", "EIN", "midnight Pacific Time", "Contact Support", "volume"),
    30024: ("registered", "in advance", "3 or more message IDs of texts marked undelivered", "Support"),
    30032: ("verification", "US or Canadian", "Aesthetix CRM runs toll-free verification", "Contact Support",
            "blocked"),
    30033: ("campaign", "suspended", "Contact Support", "however small"),
    30034: ("approved", "24 hours", "no tests", "Contact Support", "registration and number details", "however small"),
    30037: ("outbound", "Contact Support"),
}


def _all_text(card: CodeInfo) -> str:
    return _text(card) + ("\n" + card.evidence.describe() if card.evidence else "")


def test_the_facts_list_covers_every_article_code():
    assert set(ARTICLE_FACTS) == set(ARTICLE_CATEGORIES)


@pytest.mark.parametrize("code", sorted(ARTICLE_FACTS))
def test_each_article_code_keeps_what_the_article_says(code):
    text = _all_text(get(code)).lower()
    assert [fact for fact in ARTICLE_FACTS[code] if fact.lower() not in text] == []


def test_nobody_can_resubscribe_a_patient_for_them():
    text = _text(get(21610))
    assert "No one can do it for them" in text


@pytest.mark.parametrize(
    "code,evidence",
    [
        (30003, Evidence(3, 24, "message IDs")),
        (30004, Evidence(3, 24, "message IDs")),
        (30005, Evidence(3, 24, "message IDs")),
        (30007, Evidence(3, 168, "contact links", status="undelivered", per_contact=True)),
        (30008, Evidence(3, 48, "message IDs")),
        (30024, Evidence(3, None, "message IDs", status="undelivered")),
    ],
)
def test_evidence_support_needs(code, evidence):
    assert get(code).evidence == evidence


def test_evidence_is_described_as_the_article_asks():
    assert get(30003).evidence.describe() == "3 or more message IDs from the last 24 hours"
    assert get(30008).evidence.describe() == "3 or more message IDs no older than 48 hours"
    assert get(30024).evidence.describe() == "3 or more message IDs of texts marked undelivered"
    assert get(30007).evidence.describe() == (
        "contact links for 3 or more different contacts whose texts were marked undelivered, from the past 7 days")


def test_evidence_is_named_one_way_everywhere():
    """One term per thing Support wants: "message IDs" (never "SIDs"), "contact links"."""
    cards = [get(code) for code in (*ARTICLE_CATEGORIES, *GUIDE_CODES)]
    assert {card.evidence.what for card in cards if card.evidence} == {"message IDs", "contact links"}
    assert [card.code for card in cards if re.search(r"\bSIDs?\b", _text(card))] == []
    assert knowledge.evidence_codes() == (30003, 30004, 30005, 30007, 30008, 30024)


def test_codes_without_an_evidence_rule_have_none():
    assert get(21610).evidence is None
    assert get(20003).evidence is None


# ---------------------------------------------------------------- review: how the cards read

CURATED = tuple(sorted((*ARTICLE_CATEGORIES, *GUIDE_CODES, 30036, 30018, 21617, 21620, 21621, 30410, 20429, 14107)))
# The first step is what the digest and the alerts show: it must be something to do. Only verbs
# of action; "Expect", "Remember", "Assume", "Note" and friends state, they don't act.
IMPERATIVE_VERBS = frozenset("""ask check collect compress confirm contact correct find go have hold look make open
    remove resend restart retry send shrink shorten slow spread stop take tell wait""".split())


def test_the_review_list_covers_every_curated_card():
    curated = {code for code, card in knowledge._knowledge().cards.items() if card.source != "dictionary"}
    assert curated == set(CURATED)


@pytest.mark.parametrize("code", CURATED)
def test_every_first_step_begins_with_an_action(code):
    first_word = get(code).steps[0].split()[0].strip(",:;").lower()
    assert first_word in IMPERATIVE_VERBS, get(code).steps[0]


_ADD_SENDERS = re.compile(r"(?<!never )(?<!n't )\badd(ing)?\b[^.;:]*\b(numbers?|senders?)\b"
                          r"|\b(several|more|multiple|extra|other) (numbers|senders)\b", re.IGNORECASE)


def test_the_add_senders_pattern_catches_what_the_old_cards_said():
    assert _ADD_SENDERS.search("If such volume is routine, add senders to the Messaging Service.")
    assert _ADD_SENDERS.search("Use a Messaging Service with several senders so the load is shared.")
    assert not _ADD_SENDERS.search("Never add numbers to send faster.")


@pytest.mark.parametrize("code", [code for code in CURATED if get(code).source == "guide"])
def test_no_guide_card_recommends_adding_numbers_or_senders(code):
    """The article forbids snowshoeing: one campaign spread over many numbers gets filtered."""
    assert [line for line in (*get(code).steps, *get(code).notes) if _ADD_SENDERS.search(line)] == []


@pytest.mark.parametrize("code", [30001, 21611])
def test_queue_overflow_says_spread_ask_support_and_never_add_numbers(code):
    steps = " ".join(get(code).steps)
    assert "Spread" in steps and "ask Support about" in steps and "throughput" in steps
    assert "Never add numbers to send faster" in steps and "snowshoeing" in steps


# Settings of the sending software and of Twilio that clinic staff can't reach.
STAFF_CANNOT_REACH = ("MaxPrice", "Smart Encoding", "Messaging Service", "validity period", "API", "in parallel",
                      "concurren")


@pytest.mark.parametrize("code", CURATED)
def test_no_card_asks_staff_to_change_settings_they_cannot_reach(code):
    text = _text(get(code))
    assert [word for word in STAFF_CANNOT_REACH if word.lower() in text.lower()] == []


@pytest.mark.parametrize("code", [30010, 21703, 30001, 21611, 30036, 20429])
def test_what_staff_cannot_change_goes_to_support(code):
    assert any("Support" in step for step in get(code).steps)


# Words a clinic operations lead shouldn't have to decode (each explained where it's needed).
JARGON = ("shape Twilio can't read", "ported in", "long-code", "long code", "encoding", "segment", "SID",
          "Unicode", "parameter")


@pytest.mark.parametrize("code", CURATED)
def test_no_unexplained_jargon(code):
    text = _text(get(code))
    assert [word for word in JARGON if re.search(rf"\b{re.escape(word)}", text, re.IGNORECASE)] == []
    if "E.164" in text:  # always with what it means
        assert "international (E.164) format: a plus sign, the country code" in text


def test_e164_has_an_example_where_the_article_asks_for_the_format():
    for code in (21211, 21612):
        assert "+15551234567" in _text(get(code)), code


def test_checklist_items_are_items_not_headings():
    for note in get(30007).notes:
        assert not re.match(r"^[A-Z][\w ]+ — [a-z]", note), note


def test_daily_caps_reset_at_midnight_pacific_not_the_next_day():
    for code in (30023, 30027):
        text = _text(get(code))
        assert "midnight Pacific Time" in text and "next day" not in text


def test_14107_counts_outbound_replies_each_within_30_seconds_of_the_last():
    meaning = get(14107).meaning
    assert "sent more than 15 replies" in meaning and "each within 30 seconds of the one before" in meaning


def test_30019_gives_an_action_for_other_carriers():
    text = _text(get(30019))
    assert "may allow less" not in text and "send a link to the picture" in text


def test_30035_claims_no_waiting_time_without_a_source():
    text = _text(get(30035))
    assert "24 hours" not in text and "30034" not in text and "Support" in text


def test_first_steps_that_were_statements_now_act():
    assert get(30002).steps[0].startswith("Contact Support")
    assert get(30023).steps[0].startswith("Hold non-urgent texts until after midnight Pacific Time")
    assert get(30034).steps[0].startswith("Wait the full 24 hours after A2P approval before sending")


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


@pytest.mark.parametrize("text", ["30034", "Error 30034", "error  30034", "#30034", "Error: 30034", "error code 30034?",
                                  "what does twilio error 30034 mean"])
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

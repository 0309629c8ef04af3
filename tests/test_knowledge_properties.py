"""Whatever a person types, lookup answers with a valid result and never raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.emit import text as text_emit
from bot.lookup_json import lookup_payload
from jobs.views.lookup import lookup_view
from storage.knowledge import MAX_QUERY, get, lookup, search

KINDS = {"card", "matches", "did_you_mean", "not_found", "usage"}

# Control characters, separators and surrogate-free unicode, plus the characters codes come with.
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
code_like = st.builds(
    lambda prefix, n, suffix: f"{prefix}{n}{suffix}",
    st.sampled_from(["", "#", "error ", "Error: ", "code ", "\t", "err no. "]),
    st.integers(min_value=0, max_value=10**7),
    st.sampled_from(["", "?", " ", "\x00", "."]),
)


def _check(result, text):
    assert result.kind in KINDS
    assert len(result.query) <= MAX_QUERY
    assert not any(ch in result.query for ch in "\x00\n\r\t\x1b")
    if result.kind == "card":
        assert result.card is not None
    if result.kind in ("matches", "did_you_mean"):
        assert result.matches
    if result.kind in ("not_found", "usage", "did_you_mean", "matches"):
        assert result.message
    text_emit.text(lookup_view(result))
    lookup_payload(result)


@settings(max_examples=300, deadline=None)
@given(st.one_of(any_text, code_like))
def test_any_text_gives_a_valid_result(text):
    _check(lookup(text), text)
    search(text)
    get(text)


@settings(max_examples=20, deadline=None)
@given(st.text(alphabet="\x00\x07\x1b\n\r\t \u200b\u2028ab1", min_size=0, max_size=50),
       st.integers(min_value=1, max_value=200_000))
def test_huge_inputs_are_clipped_before_any_work(chunk, repeat):
    text = (chunk or "a") * repeat
    _check(lookup(text), text)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=10000, max_value=99999))
def test_any_five_digit_number_is_treated_as_a_code(number):
    result = lookup(str(number))
    assert result.kind in ("card", "did_you_mean", "not_found")
    if result.kind == "card":
        assert result.card.code == number
    elif result.kind == "did_you_mean":
        assert all(card.code != number for card in result.matches)
    else:
        assert f"https://www.twilio.com/docs/api/errors/{number}" in result.message

"""The error-code knowledge base: the single lookup behind the CLI, Slack and Teams.

Two shipped files feed it: `knowledge.json` (our curated explanations and fix steps, written in
our own words from the help article and our own guidance) and `twilio_codes.tsv` (code, title,
product and log level of every code in Twilio's public dictionary, made by
scripts/gen_twilio_codes.py). Both are read once, on first use.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from dataclasses import dataclass
from importlib import resources

MAX_QUERY = 200
DOCS_URL = "https://www.twilio.com/docs/api/errors/{code}"

CATEGORY_LABELS: dict[str, str] = {
    "account": "Account / registration",
    "contact": "Contact / list hygiene",
    "carrier": "Carrier / content",
    "media": "Media domain",
    "other": "Other",
}
SOURCES = ("article", "guide", "dictionary")  # also the tie-break order: ours first
_SOURCE_ORDER = {source: i for i, source in enumerate(SOURCES)}


@dataclass(frozen=True)
class Evidence:
    """What Support needs before it can chase a carrier, by the help article's rule for the code:
    `count` or more `what` ("message IDs" or "contact links") from the last `window_hours` hours
    (None: the article gives no age limit). Only failures with `status` count when it is set
    ("undelivered"); `per_contact`: each example must be a different contact (patient)."""

    count: int
    window_hours: int | None
    what: str
    status: str | None = None
    per_contact: bool = False

    def describe(self) -> str:
        """(3, 24, "message IDs") -> "3 or more message IDs from the last 24 hours";
        (3, 168, "contact links", "undelivered", True) -> "contact links for 3 or more different
        contacts whose texts were marked undelivered, from the past 7 days"."""
        hours = self.window_hours
        if hours is None:
            window = ""
        elif hours > 48 and hours % 24 == 0:
            window = f" from the past {hours // 24} days"
        elif hours > 24:
            window = f" no older than {hours} hours"
        else:
            window = f" from the last {hours} hours"
        if self.per_contact:
            text = f"{self.what} for {self.count} or more different contacts"
            text += f" whose texts were marked {self.status}" if self.status else ""
        else:
            text = f"{self.count} or more {self.what}"
            text += f" of texts marked {self.status}" if self.status else ""
        return text + ("," if self.status and window else "") + window


@dataclass(frozen=True)
class CodeInfo:
    code: int
    title: str
    product: str
    log_level: str
    meaning: str
    steps: tuple[str, ...]
    category: str
    evidence: Evidence | None
    notes: tuple[str, ...]
    source: str

    @property
    def docs_url(self) -> str:
        return docs_url(self.code)

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS.get(self.category, CATEGORY_LABELS["other"])


@dataclass(frozen=True)
class LookupResult:
    kind: str  # card | matches | did_you_mean | not_found | usage
    query: str
    card: CodeInfo | None = None
    matches: tuple[CodeInfo, ...] = ()
    message: str = ""


def docs_url(code: int) -> str:
    return DOCS_URL.format(code=code)


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Dictionary:
    title: str
    product: str
    log_level: str


class _KnowledgeBase:
    def __init__(self, curated: dict, dictionary: dict[int, _Dictionary]):
        self.cards: dict[int, CodeInfo] = {}
        self.aliases: dict[int, list[tuple[str, ...]]] = {}
        guidance = curated.get("guidance", {})
        for key, entry in curated["codes"].items():
            code = int(key)
            self.cards[code] = _curated_card(code, entry, dictionary.get(code), guidance)
            self.aliases[code] = [stems(alias) for alias in entry.get("aliases", [])]
        for code, facts in dictionary.items():
            if code not in self.cards:
                self.cards[code] = _dictionary_card(code, facts)
        self.index = _build_index(self.cards, self.aliases)


def _curated_card(code: int, entry: dict, facts: _Dictionary | None, guidance: dict) -> CodeInfo:
    category, source = entry["category"], entry["source"]
    if category not in CATEGORY_LABELS or source not in SOURCES:
        raise ValueError(f"knowledge.json: code {code} has category {category!r} / source {source!r}")
    evidence = entry.get("evidence")
    notes = list(entry.get("notes", []))
    for key in entry.get("guidance", []):
        notes.extend(guidance[key])
    # The official title wins when Twilio's dictionary has the code; ours fills the gaps.
    return CodeInfo(
        code=code,
        title=facts.title if facts and facts.title else entry["title"],
        product=facts.product if facts and facts.product else entry.get("product", ""),
        log_level=facts.log_level if facts and facts.log_level else entry.get("log_level", ""),
        meaning=entry["meaning"],
        steps=tuple(entry["steps"]),
        category=category,
        evidence=Evidence(**evidence) if evidence else None,
        notes=tuple(notes),
        source=source,
    )


def _dictionary_card(code: int, facts: _Dictionary) -> CodeInfo:
    return CodeInfo(
        code=code,
        title=facts.title,
        product=facts.product,
        log_level=facts.log_level,
        meaning=(
            f"Twilio reports this as: {facts.title}. We have no curated fix for it yet; "
            "Twilio's docs page for the code lists the official causes and solutions."
        ),
        steps=(),
        category="other",
        evidence=None,
        notes=(),
        source="dictionary",
    )


def _read_dictionary(text: str) -> dict[int, _Dictionary]:
    rows = {}
    for line in text.splitlines()[1:]:
        code, title, product, log_level = line.split("\t")
        rows[int(code)] = _Dictionary(title, product, log_level)
    return rows


_lock = threading.Lock()
_kb: _KnowledgeBase | None = None


def _knowledge() -> _KnowledgeBase:
    global _kb
    if _kb is None:
        with _lock:
            if _kb is None:
                package = resources.files("storage")
                curated = json.loads(package.joinpath("knowledge.json").read_text(encoding="utf-8"))
                dictionary = _read_dictionary(package.joinpath("twilio_codes.tsv").read_text(encoding="utf-8"))
                _kb = _KnowledgeBase(curated, dictionary)
    return _kb


# ---------------------------------------------------------------- words

# Words that say nothing about which error is meant ("what does error code X mean").
_STOPWORDS = frozenset(
    """a an and are be by can cant code codes did do does doesn error errors for from get got
    has have how i in is isn it its me mean means meaning message messages my not of on or our
    sms text texts that the this to twilio was wasn we were what whats when why with won you your""".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ies", "ing", "ed", "es", "s", "e")


def _stem(word: str) -> str:
    # Crude but symmetric: queries and index go through the same cut, so "landlines",
    # "unsubscribed" and "filtering" meet "landline", "unsubscribe" and "filtered".
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def stems(text: str) -> tuple[str, ...]:
    words = _TOKEN.findall(text.lower())
    return tuple(_stem(w) for w in words if len(w) > 1 and w not in _STOPWORDS)


# Field weights: an alias is a deliberate pointer, a title is Twilio's own name for the code,
# our explanation text only hints.
_ALIAS, _TITLE, _PROSE = 8.0, 5.0, 1.5
_CURATED_BONUS = 10.0  # above a bare title hit (5), so for one word our codes always come first
_EXACT_ALIAS_BONUS = 40.0
_PHRASE_BONUS = 6.0
_CODE_HIT = 100.0
_NUMBER = re.compile(r"(?<!\d)\d{3,6}(?!\d)")


def _build_index(cards: dict[int, CodeInfo], aliases: dict[int, list[tuple[str, ...]]]) -> dict[str, dict[int, float]]:
    index: dict[str, dict[int, float]] = {}
    for code, card in cards.items():
        fields = [(_TITLE, card.title)]
        if card.source != "dictionary":
            fields.append((_PROSE, " ".join((card.meaning, *card.steps))))
        weights: dict[str, float] = {}
        for weight, text in fields:
            for stem in set(stems(text)):
                weights[stem] = weights.get(stem, 0.0) + weight
        for stem in {s for alias in aliases.get(code, []) for s in alias}:
            weights[stem] = weights.get(stem, 0.0) + _ALIAS
        for stem, weight in weights.items():
            index.setdefault(stem, {})[code] = weight
    return index


def _contains(seq: tuple[str, ...], part: tuple[str, ...]) -> bool:
    n = len(part)
    return any(seq[i : i + n] == part for i in range(len(seq) - n + 1))


def _rank(kb: _KnowledgeBase, text: str, limit: int) -> list[CodeInfo]:
    query = stems(text)
    wanted = set(query)
    weights: dict[int, float] = {}
    covered: dict[int, int] = {}
    for stem in wanted:
        for code, weight in kb.index.get(stem, {}).items():
            weights[code] = weights.get(code, 0.0) + weight
            covered[code] = covered.get(code, 0) + 1
    scores: dict[int, float] = {}
    for code, weight in weights.items():
        if kb.cards[code].source != "dictionary":
            weight += _CURATED_BONUS
        # A code that answers every word beats one that shouts about a single word.
        score = weight * covered[code] / len(wanted)
        for alias in kb.aliases.get(code, ()):
            if alias and alias == query:
                score += _EXACT_ALIAS_BONUS
            elif len(alias) > 1 and _contains(query, alias):
                score += _PHRASE_BONUS * len(alias)
        scores[code] = score
    for number in _NUMBER.findall(text):
        code = int(number)
        if code in kb.cards:
            scores[code] = scores.get(code, 0.0) + _CODE_HIT
    ranked = sorted(scores, key=lambda code: (-scores[code], _SOURCE_ORDER[kb.cards[code].source], code))
    return [kb.cards[code] for code in ranked[: max(0, limit)]]


# ---------------------------------------------------------------- codes

# Words that may stand around a code without changing which code is meant:
# "Error 30034", "#30034", "error code: 30034", "what does twilio error no. 30034 mean?"
_CODE_FILLER = frozenset({"err", "no", "nr", "num", "number"})


def _code_digits(query: str) -> str | None:
    words = [w for w in stems(query) if w not in _CODE_FILLER]
    return words[0] if len(words) == 1 and words[0].isdigit() else None


def _near_misses(kb: _KnowledgeBase, digits: str) -> list[CodeInfo]:
    """Known codes one typo away: a swapped neighbour pair, one wrong, missing or extra digit."""
    typos: dict[str, int] = {}  # candidate -> how likely the typo is (lower first)

    def consider(candidate: str, likelihood: int) -> None:
        if candidate and candidate[0] != "0" and candidate != digits:
            typos[candidate] = min(likelihood, typos.get(candidate, likelihood))

    for i in range(len(digits) - 1):
        consider(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :], 0)
    for i in range(len(digits)):
        for d in "0123456789":
            consider(digits[:i] + d + digits[i + 1 :], 1)
            consider(digits[:i] + d + digits[i:], 2)
        consider(digits[:i] + digits[i + 1 :], 2)
    for d in "0123456789":
        consider(digits + d, 2)
    known = [(int(c), likelihood) for c, likelihood in typos.items() if int(c) in kb.cards]
    known.sort(key=lambda pair: (_SOURCE_ORDER[kb.cards[pair[0]].source], pair[1], abs(pair[0] - int(digits)), pair[0]))
    return [kb.cards[code] for code, _ in known[:5]]


def _code_result(kb: _KnowledgeBase, query: str, digits: str) -> LookupResult:
    digits = digits.lstrip("0") or "0"
    if len(digits) > 7:
        return LookupResult(
            "not_found", query, message=f"{digits} is not a Twilio error code: those have 3 to 6 digits."
        )
    code = int(digits)
    if code in kb.cards:
        return LookupResult("card", query, card=kb.cards[code])
    nearby = _near_misses(kb, digits) if len(digits) >= 3 else []
    if nearby:
        codes = [str(card.code) for card in nearby[:3]]
        options = codes[0] if len(codes) == 1 else ", ".join(codes[:-1]) + " or " + codes[-1]
        return LookupResult(
            "did_you_mean", query, matches=tuple(nearby),
            message=f"{code} is not a known Twilio error code. Did you mean {options}?",
        )
    return LookupResult(
        "not_found",
        query,
        message=f"{code} is not a known Twilio error code. "
        f"If Twilio has added it since, it is explained at {docs_url(code)}",
    )


# ---------------------------------------------------------------- public API

_USAGE = "Give an error code (e.g. 30007) or a few words (e.g. opted out, landline)."


def normalise(text: object) -> str:
    """The query as we echo it: control characters dropped, whitespace collapsed, clipped."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    # Clip before any real work, leaving room for whitespace the collapse will remove.
    text = text[: MAX_QUERY * 4]
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(text.split())[:MAX_QUERY].strip()


def get(code: int | str) -> CodeInfo | None:
    """The card for a code, or None. Accepts 30007, "30007", "Error 30007"."""
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return _knowledge().cards.get(code)
    digits = _code_digits(normalise(code))
    if digits is None or len(digits) > 9:
        return None
    return _knowledge().cards.get(int(digits))


def evidence_codes() -> tuple[int, ...]:
    """The codes whose fix asks for examples for Support, in order."""
    return tuple(sorted(code for code, card in _knowledge().cards.items() if card.evidence))


def category_of(code: int) -> str:
    card = get(code)
    return card.category if card else "other"


def search(words: str, limit: int = 5) -> list[CodeInfo]:
    """Codes matching free words, best first; curated codes outrank bare dictionary titles."""
    return _rank(_knowledge(), normalise(words), limit)


def lookup(text: str) -> LookupResult:
    query = normalise(text)
    if not query:
        return LookupResult("usage", query, message=_USAGE)
    kb = _knowledge()
    digits = _code_digits(query)
    if digits is not None:
        return _code_result(kb, query, digits)
    found = _rank(kb, query, 5)
    if not found:
        return LookupResult("not_found", query,
                            message=f"No Twilio error code matches “{query}”. Try a code number or other words.")
    noun = "code matches" if len(found) == 1 else "codes match"
    return LookupResult("matches", query, matches=tuple(found), message=f"{len(found)} {noun} “{query}”, best first.")

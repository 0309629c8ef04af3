"""Build storage/twilio_codes.tsv from Twilio's public error dictionary, and guard our prose.

    .venv/bin/python scripts/gen_twilio_codes.py [DICTIONARY_JSON] [--article ARTICLE_TXT]

Both paths default to the copies under ../shared next to the repository.

Only code, title, product and log level are copied: those are facts. Twilio's description,
causes, solutions and docs text are not ours to ship, so they are never written out. Because the
tests must not read ../shared, this script is also the guard that storage/knowledge.json was
written in our own words: it fails (exit 1) if any 40-character run of the dictionary's prose
appears there, or (given the help article) any 40-character run of the article.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DICTIONARY = REPO.parent / "shared" / "data" / "twilio-error-codes.json"
DEFAULT_ARTICLE = REPO.parent / "shared" / "seed" / "000_0505d298433d9f15.txt"
TSV = REPO / "storage" / "twilio_codes.tsv"
KNOWLEDGE = REPO / "storage" / "knowledge.json"
PROSE_FIELDS = ("description", "causes", "solutions")
# Long enough that a shared technical phrase ("numeric sender ID pre-registration") passes,
# short enough that any copied sentence is caught.
RUN = 40
COLUMNS = ("code", "title", "product", "log_level")


def _cell(value) -> str:
    # A stray tab or newline inside a title would split the row; none is meaningful.
    return " ".join(str(value or "").split())


def build_rows(entries: list[dict]) -> list[tuple[str, ...]]:
    rows = {}
    for entry in entries:
        code = int(entry["code"])
        rows[code] = (str(code), _cell(entry.get("message")), _cell(entry.get("product")),
                      _cell(entry.get("log_level")))
    return [rows[code] for code in sorted(rows)]


def write_tsv(rows: list[tuple[str, ...]], path: Path) -> None:
    lines = ["\t".join(COLUMNS)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _squash(text: str) -> str:
    # Compare on letters and digits only, so re-spacing or re-punctuating a copied sentence
    # does not slip past the guard.
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def copied_runs(source_texts: list[str], ours: str, run: int) -> list[str]:
    """Every `run`-character stretch of a source text that also stands in `ours`."""
    ours = _squash(ours)
    windows = {ours[i : i + run] for i in range(max(0, len(ours) - run + 1))}
    found = []
    for text in source_texts:
        text = _squash(text)
        for i in range(len(text) - run + 1):
            if text[i : i + run] in windows:
                found.append(text[i : i + run])
                break
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dictionary", nargs="?", default=str(DEFAULT_DICTIONARY), help="Twilio error dictionary JSON")
    parser.add_argument("--article", help="the help article text, to check knowledge.json does not copy it "
                                          "(default: the seed article, when present)")
    args = parser.parse_args(argv)

    dictionary = Path(args.dictionary)
    if not dictionary.is_absolute() and not dictionary.exists():
        dictionary = REPO / dictionary
    article_path = Path(args.article) if args.article else DEFAULT_ARTICLE
    checked_article = args.article is not None or DEFAULT_ARTICLE.exists()
    try:
        entries = json.loads(dictionary.read_text(encoding="utf-8"))
        ours = " \n ".join(_strings(json.loads(KNOWLEDGE.read_text(encoding="utf-8"))))
        article = article_path.read_text(encoding="utf-8").splitlines() if checked_article else []
    except (OSError, ValueError) as exc:
        print(f"gen_twilio_codes: cannot read input: {exc}", file=sys.stderr)
        return 2

    rows = build_rows(entries)
    write_tsv(rows, TSV)
    print(f"wrote {len(rows)} codes to {TSV.relative_to(REPO)}")

    prose = [entry.get(field) or "" for entry in entries for field in PROSE_FIELDS]
    problems = [f"dictionary prose copied: {run!r}" for run in copied_runs(prose, ours, RUN)]
    problems += [f"article sentence copied: {run!r}" for run in copied_runs(article, ours, RUN)]
    for problem in problems:
        print(f"gen_twilio_codes: {problem}", file=sys.stderr)
    if problems:
        print(f"gen_twilio_codes: {len(problems)} copied passage(s) in {KNOWLEDGE.name}; "
              "rewrite them in our own words", file=sys.stderr)
        return 1
    print(f"{KNOWLEDGE.name}: no copied dictionary prose" + (" or article sentences" if checked_article else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

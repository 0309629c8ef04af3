"""smserror lookup CODE|WORDS... [--json]: explain an error code, or find codes by words."""

from __future__ import annotations

import json
import sys

from bot.emit.text import text
from bot.lookup_json import lookup_payload
from jobs.views.lookup import lookup_view
from storage.knowledge import lookup
from storage.privacy import mask_lookup

USAGE = "usage: smserror lookup CODE|WORDS... [--json]   e.g. smserror lookup 30007, smserror lookup opted out"
EXIT_CODES = {"card": 0, "matches": 0, "did_you_mean": 1, "not_found": 1, "usage": 2}


def add_parser(sub):
    parser = sub.add_parser(
        "lookup",
        help="explain a Twilio error code, or search codes by words",
        description="Explain a Twilio error code (e.g. 30007, 'Error 30034') or find codes by words ('opted out').",
    )
    parser.add_argument("words", nargs="*", metavar="CODE|WORDS", help="an error code, or words to search for")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def run(args) -> int:
    result = mask_lookup(lookup(" ".join(args.words)))  # a number typed is echoed masked
    if result.kind == "usage":
        print(USAGE, file=sys.stderr)
    elif args.json:
        print(json.dumps(lookup_payload(result), ensure_ascii=False, indent=2))
    else:
        print(text(lookup_view(result)), end="")
    return EXIT_CODES[result.kind]

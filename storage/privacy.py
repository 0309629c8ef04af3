"""What may leave the store: phone numbers are masked before they reach any channel."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.knowledge import LookupResult

_PHONE_IN_TEXT = re.compile(r"\+?\d[\d\- ().]{6,}\d")


def mask_number(value: str | None) -> str:
    """`+15551234567` -> `+1••••••4567`: the first digit and the last four stay, so an operator
    can tell numbers apart without the channel learning a patient's number. Alphanumeric sender
    IDs and short codes (six digits or fewer) name the practice's own sender and are kept."""
    if not value:
        return "unknown"
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if len(digits) <= 6:
        return value
    keep = set(digits[-4:]) | ({digits[0]} if value.startswith("+") else set())
    return "".join("•" if ch.isdigit() and i not in keep else ch for i, ch in enumerate(value))


def mask_numbers_in_text(text: str) -> str:
    """Mask anything in free text that looks like a full phone number."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_number(m.group(0)), text)


def mask_lookup(result: LookupResult) -> LookupResult:
    """A lookup as it may be echoed: whatever the person typed (`/smserror +12025550187`) comes
    back with any phone number in it masked, on every surface."""
    return dataclasses.replace(result, query=mask_numbers_in_text(result.query),
                               message=mask_numbers_in_text(result.message))


# Logs are full of digit runs an operator needs: SIDs (SM0a1b2c…), Slack timestamps
# (1795778897.000001), dates, ports, sizes. There a phone number is what starts with "+", a run of
# 10 to 15 digits standing on its own (an epoch in seconds is masked too), or (202) 555-0187.
_PHONE_IN_LOG = re.compile(r"\+\d[\d\- ()]{6,}\d|(?<![\w.])(?:\d{10,15}|\(?\d{3}\)?[ -]?\d{3}-\d{4})(?![\w.])")


def mask_numbers_in_log(text: str) -> str:
    """Mask phone numbers in a log line (a library's DEBUG dump of a payload, say)."""
    return _PHONE_IN_LOG.sub(lambda m: mask_number(m.group(0)), text)

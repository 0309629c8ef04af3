"""What may leave the store: phone numbers are masked before they reach any channel."""

from __future__ import annotations

import re

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

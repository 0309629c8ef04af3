"""Reading a Retry-After header, for every client that retries: Twilio's, Slack's and Teams'."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime


def retry_after(headers, cap: float | None = None) -> float | None:
    """Seconds the header asks for (delta-seconds or an HTTP date), at most `cap`; None when it
    is absent or unreadable. Header names are matched in any case; a list value (as some HTTP
    clients keep them) is read by its first item."""
    value = next((v for name, v in (headers or {}).items() if name.lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    seconds = max(0.0, seconds)
    return seconds if cap is None else min(cap, seconds)

"""Slack mrkdwn safety: anything we did not write ourselves is escaped before it is posted.

Slack only treats `&`, `<` and `>` as control characters; escaping them is what keeps
`/smserror <!channel>` from ever pinging a channel.
"""

from __future__ import annotations


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def marked(text: str, mark: str) -> str:
    """`text` between two `mark`s with its outer spaces outside them: in mrkdwn and in Markdown a
    closing `*` that follows a space closes nothing, so `*First step: *` would show its stars."""
    words = text.strip()
    if not words:
        return text
    start = text.index(words)
    return f"{text[:start]}{mark}{words}{mark}{text[start + len(words):]}"

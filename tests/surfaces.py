"""Rendered output checked against each surface's own rules, and flattened for comparison.

Block Kit: every block re-parsed by slack_sdk's models and validated there (`Block.parse`,
`validate_json`), the round trip losing nothing, and Slack's documented limits that slack_sdk
does not check itself. Adaptive Cards: parsed and validated by Microsoft's `adaptivecards`
package in node (tests/cards/, installed by `npm ci --prefix tests/cards`, as .ci/run does)."""

from __future__ import annotations

import dataclasses
import html
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.emit import slack, teams, text
from jobs.views.model import Action, Time, View, utc_text

CARDS = Path(__file__).parent / "cards"
SLACK_LIMITS = {"blocks": 50, "header": 150, "section": 3000, "fields": 10, "field": 2000, "context": 10,
                "actions": 25, "text": 3000}


def assert_block_kit(blocks: list[dict], text: str) -> None:
    """A message Slack accepts: at most 50 blocks, each valid and within its limits."""
    assert 0 < len(blocks) <= SLACK_LIMITS["blocks"]
    for data in blocks:
        block = Block.parse(data)
        assert block is not None, data
        block.validate_json()
        assert block.to_dict() == data
        if data["type"] == "header":
            assert len(data["text"]["text"]) <= SLACK_LIMITS["header"]
        if data["type"] == "section":
            assert "text" in data or "fields" in data
            assert len(data.get("text", {}).get("text", "")) <= SLACK_LIMITS["section"]
            assert len(data.get("fields", [])) <= SLACK_LIMITS["fields"]
            assert all(len(field["text"]) <= SLACK_LIMITS["field"] for field in data.get("fields", []))
        if data["type"] == "context":
            assert len(data["elements"]) <= SLACK_LIMITS["context"]
            assert all(len(element["text"]) <= SLACK_LIMITS["section"] for element in data["elements"])
        if data["type"] == "actions":
            assert len(data["elements"]) <= SLACK_LIMITS["actions"]
    assert 0 < len(text) <= SLACK_LIMITS["text"]


def card_problems(cards: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """{name: what Microsoft's Adaptive Cards library finds wrong} for each card that has problems."""
    if not (CARDS / "node_modules" / "adaptivecards").is_dir():
        pytest.fail("Microsoft's adaptivecards package is not installed: run `npm ci --prefix tests/cards`")
    run = subprocess.run(["node", str(CARDS / "check.js")], input=json.dumps(cards), capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(run.stdout)


def assert_teams(cards: dict[str, dict[str, Any]]) -> None:
    """Cards Teams takes: valid Adaptive Cards whose Workflows message is under the size limit."""
    assert card_problems(cards) == {}
    for name, card in cards.items():
        assert teams.message_size(card) <= teams.MAX_MESSAGE_BYTES, name


def strings(node: Any) -> Iterator[str]:
    """Every string value in a JSON-like tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def slack_shown(blocks: list[dict]) -> str:
    """What the blocks say, with mrkdwn's escapes undone."""
    return html.unescape("\n".join(strings(blocks)))


def teams_shown(card: dict[str, Any]) -> str:
    return "\n".join(strings(card))


def content(node: Any) -> Iterator[str]:
    """Every piece of text a view holds for its reader, found by walking the whole tree, so a
    field added to the model is content until said otherwise. Not content: the notification
    text, the mention and the tone (surface cues), a title that is no header (the
    notification's), and buttons that call back (only Slack can take a click)."""
    if isinstance(node, str):
        if node.strip():
            yield node.strip()  # spaces are the surface's to place: `*First step:* `
    elif isinstance(node, Time):
        yield utc_text(node.epoch)
    elif isinstance(node, Action):
        if node.url:
            yield from (node.label, node.url)
    elif isinstance(node, tuple):
        for item in node:
            yield from content(item)
    elif dataclasses.is_dataclass(node):
        skip = set()
        if isinstance(node, View):
            skip = {"fallback", "mention", "tone"} | (set() if node.header else {"title"})
        for field in dataclasses.fields(node):
            if field.name not in skip:
                yield from content(getattr(node, field.name))


def missing_content(view: View) -> dict[str, list[str]]:
    """{surface: the pieces of the view's content its rendering lacks}."""
    blocks, _ = slack.to_dicts(view)
    shown = {"slack": slack_shown(blocks), "teams": teams_shown(teams.card(view)), "text": text.text(view)}
    return {surface: [piece for piece in content(view) if piece not in out] for surface, out in shown.items()}


# -- shapes, for exact expectations ------------------------------------------------------------

DIVIDER = {"type": "divider"}


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def fields(*texts: str) -> dict:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": text} for text in texts]}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def button(text: str, action_id: str, **extra: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True}, "action_id": action_id,
            **extra}


def menu(placeholder: str, action_id: str, *options: tuple[str, str]) -> dict:
    return {"type": "static_select", "action_id": action_id,
            "placeholder": {"type": "plain_text", "text": placeholder},
            "options": [{"text": {"type": "plain_text", "text": label}, "value": value} for label, value in options]}


def actions(*elements: dict) -> dict:
    return {"type": "actions", "elements": list(elements)}


def text_block(text: str, **style: Any) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def container(*items: dict) -> dict:
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": list(items)}


def adaptive_card(*body: dict, links: tuple[tuple[str, str], ...] = ()) -> dict:
    card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": "1.4",
            "body": list(body), "msteams": {"width": "Full"}}
    if links:
        card["actions"] = [{"type": "Action.OpenUrl", "title": title, "url": url} for title, url in links]
    return card

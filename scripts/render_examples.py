"""Writes docs/examples.md: what the bot posts, rendered from the real renderers over the bundled
demo day (synthetic data). Slack's Block Kit is flattened to text the way Slack lays it out.

    .venv/bin/python scripts/render_examples.py
"""

from __future__ import annotations

import html
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.emit import slack  # noqa: E402
from bot.emit.teams import card as teams_card  # noqa: E402
from bot.emit.text import text  # noqa: E402
from bot.pipeline import Pipeline  # noqa: E402
from bot.settings import Settings  # noqa: E402
from jobs import overview  # noqa: E402
from jobs.digest import build_window_report  # noqa: E402
from jobs.importer import load_demo  # noqa: E402
from jobs.views import view_for  # noqa: E402
from jobs.views.commands import code_examples_view, help_view, status_view, top_view  # noqa: E402
from jobs.views.digest import digest_view, fixes_view  # noqa: E402
from jobs.views.home import home_view  # noqa: E402
from jobs.views.lookup import lookup_view  # noqa: E402
from storage import outbox  # noqa: E402
from storage.db import LocalDb  # noqa: E402
from storage.failures import failures_between  # noqa: E402
from storage.knowledge import lookup  # noqa: E402

NOW = 1_795_766_400  # 2026-11-27 08:00 UTC: a fixed morning, so the file only changes with the code
DAY = 86400


def flatten(blocks: list) -> str:
    lines: list[str] = []
    for block in blocks:
        data = block if isinstance(block, dict) else block.to_dict()
        kind = data["type"]
        if kind == "header":
            lines += [f"▌ {data['text']['text']}", ""]
        elif kind == "section":
            if "text" in data:
                lines += [_mrkdwn(data["text"]["text"]), ""]
            for field in data.get("fields", []):
                label, _, value = _mrkdwn(field["text"]).partition("\n")
                lines.append(f"{label}: {value}")
            if "fields" in data:
                lines.append("")
        elif kind == "context":
            lines += ["   " + " ".join(_mrkdwn(e.get("text", "")) for e in data["elements"]), ""]
        elif kind == "divider":
            lines += ["─" * 60, ""]
        elif kind == "actions":
            lines += ["  ".join(_element(e) for e in data["elements"]), ""]
    return "\n".join(lines).rstrip()


def _element(element: dict) -> str:
    if element["type"] == "static_select":  # a menu: its placeholder, then what it offers
        offered = " | ".join(o["text"]["text"] for o in element["options"])
        return f"[ {element['placeholder']['text']} ▾ {offered} ]"
    return f"[ {element['text']['text']} ]"


def _mrkdwn(text: str) -> str:
    text = re.sub(r"<!(here|channel)>", r"@\1", text)
    text = re.sub(r"<!date\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<(?:https?://|mailto:)[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<@(\w+)>", r"@\1", text)
    return html.unescape(text)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(db_path=str(Path(folder) / "examples.db"))
        pipeline = Pipeline(settings, LocalDb(settings.db_path), destinations=[], clock=lambda: NOW)
        db = pipeline.store.get()
        load_demo(db, NOW)
        pipeline.observe(failures_between(db, NOW - DAY, NOW + 1), NOW)
        alert = next(item for item in outbox.pending(db) if item.kind == "alert")
        alert_text = flatten(slack.blocks(view_for(alert.kind, alert.payload))[0])
        report = build_window_report(db, DAY, "24h", settings.tz, now=NOW).to_dict()
        digest_text = flatten(slack.blocks(digest_view(report))[0])
        fixes_text = flatten(slack.blocks(fixes_view(report))[0])
        top = flatten(slack.blocks(top_view(overview.top_codes(db, 7 * DAY, "7 days", NOW)))[0])
        status = flatten(slack.blocks(status_view(overview.status(db, NOW, domain="acme")))[0])
        examples = flatten(slack.blocks(code_examples_view(overview.code_examples(db, 30007, 5)))[0])
        home = flatten(slack.blocks(home_view(overview.home(db, NOW, pipeline.rules, alerts_shown=3,
                                                            next_digest=NOW + DAY)))[0])
        alert_card = json.dumps(teams_card(view_for(alert.kind, alert.payload)), ensure_ascii=False, indent=1)
    card = flatten(slack.blocks(lookup_view(lookup("30007"), shareable=True))[0])
    matches = flatten(slack.blocks(lookup_view(lookup("landline")))[0])
    near = flatten(slack.blocks(lookup_view(lookup("30070")))[0])
    sections = [
        ("`/smserror 30007` (ephemeral, only you see it)", card),
        ("`/smserror landline`", matches),
        ("`/smserror 30070`", near),
        ("`/smserror help`", flatten(slack.blocks(help_view())[0])),
        ("`/smserror top 7d`", top),
        ("`/smserror status`", status),
        ("`/smserror examples 30007` (ephemeral; numbers masked)", examples),
        ("The App Home tab", home),
        ("`@smserror 21610` in Teams (an Adaptive Card, shown as its text)", text(lookup_view(lookup("21610")))),
        ("A real-time alert (Slack)", alert_text),
        ("The morning digest (Slack)", digest_text),
        ("The digest's thread: every fix step (Slack)", fixes_text),
        ("The same alert in Teams (Adaptive Card JSON)", alert_card),
    ]
    out = ["# What smserror posts", "",
           "Generated by `scripts/render_examples.py` from the real renderers over the bundled synthetic demo day.",
           "Slack's Block Kit is shown flattened to text; buttons appear as `[ … ]`.", ""]
    for title, body in sections:
        out += [f"## {title}", "", "```text", body, "```", ""]
    (ROOT / "docs" / "examples.md").write_text("\n".join(out))
    print("wrote docs/examples.md")


if __name__ == "__main__":
    main()

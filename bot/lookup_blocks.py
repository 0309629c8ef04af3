"""Block Kit for lookup answers: pure functions from a LookupResult to slack_sdk blocks."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.action_ids import ActionId
from bot.mrkdwn import clip, escape
from storage.knowledge import CodeInfo, LookupResult
from storage.privacy import mask_lookup

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
MAX_BUTTONS = 5


def lookup_blocks(result: LookupResult, *, shareable: bool = True) -> tuple[list[Block], str]:
    """Blocks plus the fallback text Slack shows in notifications. A phone number in what was
    typed comes back masked, even in the ephemeral answer."""
    result = mask_lookup(result)
    if result.kind == "card":
        return card_blocks(result.card, shareable=shareable), card_fallback(result.card)
    if result.kind in ("matches", "did_you_mean"):
        return choice_blocks(result), escape(result.message)
    return [_section(escape(result.message))], escape(result.message)


def card_blocks(info: CodeInfo, *, shareable: bool = True, shared_by: str | None = None) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=clip(f"{info.code} · {info.title}", HEADER_LIMIT))]
    if info.meaning:
        blocks.append(_section(f"*What it means*\n{escape(info.meaning)}"))
    if info.steps:
        steps = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(info.steps, start=1))
        blocks.append(_section(f"*How to fix it*\n{steps}"))
    if info.evidence:
        blocks.append(_section(f"*What Support will ask for*\n{escape(info.evidence.describe())}."))
    if info.notes:
        blocks.append(_section("*Good to know*\n" + "\n".join(f"• {escape(note)}" for note in info.notes)))
    context = [f"Category: {escape(info.category_label)}", f"Product: {escape(info.product or 'Twilio')}"]
    if shared_by:
        context.append(f"Shared by <@{shared_by}>")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(context))]))
    buttons = [ButtonElement(text="Twilio docs", url=info.docs_url, action_id=ActionId.OPEN_DOCS.value)]
    if shareable:
        buttons.append(
            ButtonElement(text="Share in channel", action_id=ActionId.SHARE_IN_CHANNEL.value, value=str(info.code))
        )
    blocks.append(ActionsBlock(elements=buttons))
    return blocks


def choice_blocks(result: LookupResult) -> list[Block]:
    lines = "\n".join(f"• *{info.code}* · {escape(info.title)}" for info in result.matches)
    blocks: list[Block] = [_section(f"{escape(result.message)}\n{lines}")]
    if result.matches:
        blocks.append(DividerBlock())
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(text=str(info.code), action_id=f"{ActionId.SHOW_CODE.value}_{n}", value=str(info.code))
                    for n, info in enumerate(result.matches[:MAX_BUTTONS])
                ]
            )
        )
    return blocks


def card_fallback(info: CodeInfo) -> str:
    return escape(f"Twilio error {info.code}: {info.title}")


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))

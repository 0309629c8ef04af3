"""The Bolt app: one small module per listener under bot/listeners/, each with register(app, deps)."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot.listeners import LISTENERS
from bot.listeners.deps import ListenerDeps
from bot.settings import Settings

log = logging.getLogger("smserror.slack")
_UNUSED_TOKEN = warning_client_prioritized_and_token_skipped()
# Bolt reads SLACK_BOT_TOKEN from the environment by itself and warns, at every start, that it
# ignores it because a client was given. It is not ignored: authorize() hands it to each request.
log.addFilter(lambda record: record.getMessage() != _UNUSED_TOKEN)


def build_app(settings: Settings, deps: ListenerDeps, client: WebClient | None = None) -> App:
    """A Bolt app that verifies every request with the signing secret.

    Authorization is local (no auth.test call): a lookup needs nothing from Slack's Web API,
    so `/smserror` keeps answering, and `run` keeps starting, while that API is slow or down.
    A bad token shows up on the first post instead.
    """
    token = settings.slack_bot_token

    def authorize(enterprise_id: str | None, team_id: str | None, **_) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(
        signing_secret=settings.slack_signing_secret,
        client=client or WebClient(base_url=settings.slack_api_url),
        authorize=authorize,
        # the lookup is answered in the ack itself; waiting on a listener thread for it costs
        # Bolt's 10 ms polling step per request. Button work that calls Slack is lazy instead.
        process_before_response=True,
        logger=log,
    )
    for listener in LISTENERS:
        listener.register(app, deps)
    return app


def slash_commands() -> set[str]:
    """Every slash command some listener registers: the manifest must declare exactly these."""
    return {name for listener in LISTENERS for name in getattr(listener, "COMMANDS", ())}


def bot_events() -> set[str]:
    """Every event some listener subscribes to: the manifest's bot_events must be exactly these."""
    return {name for listener in LISTENERS for name in getattr(listener, "EVENTS", ())}

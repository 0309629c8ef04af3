"""Slack listeners. Each module has `register(app, deps)`; add a new one to LISTENERS."""

from bot.listeners import alert_actions, card_actions, lookup_command

LISTENERS = (lookup_command, card_actions, alert_actions)

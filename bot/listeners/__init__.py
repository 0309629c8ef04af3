"""Slack listeners. Each module has `register(app)`; add a new one to LISTENERS."""

from bot.listeners import card_actions, lookup_command

LISTENERS = (lookup_command, card_actions)

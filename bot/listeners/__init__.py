"""Slack listeners. Each module has `register(app, deps)`; add a new one to LISTENERS.

Bolt runs the first listener that matches: app_home takes alert buttons clicked on the Home
tab, so it comes before alert_actions, which takes them everywhere else."""

from bot.listeners import alert_actions, app_home, card_actions, lookup_command

LISTENERS = (lookup_command, card_actions, app_home, alert_actions)

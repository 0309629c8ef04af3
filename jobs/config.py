"""What jobs/ need from the configuration, as values they own: bot/settings.py reads the
environment and builds these, so jobs/ never import bot/.

ConfigError lives here because jobs raise it too (a bad rules file, Twilio not configured or
refusing the credentials); bot.settings re-exports it, and the CLI turns it into exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A setting is missing or malformed. The message names the variable to fix."""


@dataclass(frozen=True)
class TwilioConfig:
    """The Twilio REST client's and the poller's settings (TWILIO_*, SMSERROR_TWILIO_TIMEOUT,
    SMSERROR_TWILIO_CONCURRENCY, SMSERROR_LOOKBACK_HOURS). Secrets are left out of repr()."""

    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    api_url: str = "https://api.twilio.com"
    events_url: str = "https://events.twilio.com"
    timeout: float = 15.0
    concurrency: int = 8  # accounts read at once in a poll pass
    subaccounts: str | list[str] = ""  # "" the main account only, "all", or a list of subaccount SIDs
    lookback_hours: int = 24

    @property
    def configured(self) -> bool:
        has_secret = self.auth_token or (self.api_key and self.api_secret)
        return bool(self.account_sid and has_secret)

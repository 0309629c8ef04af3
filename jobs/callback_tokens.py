"""Twilio signs a status callback with the auth token of the account that sent the message, so
with subaccounts the callback check needs each subaccount's token as well. The parent account
may read them from Twilio; they are kept in memory only, never stored and never logged."""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.rest.api.v2010.account import AccountInstance

from jobs.twilio_client import TwilioAuthError, describe_error

log = logging.getLogger("smserror.callback_tokens")


def subaccount_tokens(client: Client, main_sid: str, mode: str | list[str]) -> dict[str, str] | None:
    """{subaccount SID: auth token} for TWILIO_SUBACCOUNTS mode ('' / 'all' / a list of SIDs);
    None when Twilio could not be asked (keep whatever was known before)."""
    try:
        listed = subaccounts(client, main_sid, mode)
    except (TwilioException, TwilioAuthError, OSError) as exc:  # the poll that follows says the same, and goes on
        log.warning("subaccount tokens for callback checks not refreshed: %s", describe_error(exc))
        return None
    return {a.sid: a.auth_token for a in listed if a.auth_token}


def subaccounts(client: Client, main_sid: str, mode: str | list[str]) -> list[AccountInstance]:
    """The subaccounts TWILIO_SUBACCOUNTS names ('' none, 'all' every active one, or a list of
    SIDs), each with its friendly name and auth token. Raises what the SDK raises."""
    if not mode:
        return []
    accounts = client.api.v2010.accounts
    if mode == "all":
        listed = list(accounts.stream(status="active", page_size=1000))
    else:
        listed = [accounts(sid).fetch() for sid in dict.fromkeys(mode) if sid != main_sid]
    return [a for a in listed if a.sid != main_sid]

"""The fleet as Twilio lists it: every account's friendly name, and each subaccount's auth token.

Twilio signs a status callback with the auth token of the account that sent the message (and an
Event Streams delivery with that of the sink's account), so with subaccounts the checks need each
subaccount's token as well. The parent account may read them from Twilio; they are kept in
memory only, never stored and never logged. The same listing names every account wherever one is
shown, and tells the poller which subaccounts TWILIO_SUBACCOUNTS=all means: read once an hour
(bot/pipeline.py), not on every pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.rest.api.v2010.account import AccountInstance

from jobs.twilio_client import TwilioAuthError, describe_error

log = logging.getLogger("smserror.callback_tokens")


@dataclass(frozen=True)
class Fleet:
    accounts: list[str]  # the main account, then the subaccounts, in Twilio's order
    names: dict[str, str]  # account SID -> friendly name
    tokens: dict[str, str]  # subaccount SID -> auth token


def read_fleet(client: Client, main_sid: str, mode: str | list[str]) -> Fleet | None:
    """The main account and the subaccounts of TWILIO_SUBACCOUNTS mode ('' / 'all' / a list of
    SIDs), with names and tokens; None when Twilio could not be asked (keep what was known)."""
    try:
        main = client.api.v2010.accounts(main_sid).fetch()
        listed = subaccounts(client, main_sid, mode)
    except (TwilioException, TwilioAuthError, OSError) as exc:  # a wrong token fails the pass itself, loudly
        log.warning("account names and subaccount tokens not refreshed: %s", describe_error(exc))
        return None
    return Fleet(accounts=[main_sid] + [a.sid for a in listed],
                 names={a.sid: a.friendly_name for a in (main, *listed) if a.friendly_name},
                 tokens={a.sid: a.auth_token for a in listed if a.auth_token})


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

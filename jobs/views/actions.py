"""Every Block Kit action_id the bot renders and listens for, in one place."""

from enum import StrEnum


class ActionId(StrEnum):
    OPEN_DOCS = "smserror_open_docs"
    SHARE_IN_CHANNEL = "smserror_share_in_channel"
    # suffixed _0.._4 on the buttons: Slack requires action_ids unique within a block
    SHOW_CODE = "smserror_show_code"
    # buttons on real-time alerts (value: the alert group key)
    ALERT_ACK = "smserror_alert_ack"
    ALERT_SNOOZE = "smserror_alert_snooze"
    ALERT_EXAMPLES = "smserror_alert_examples"

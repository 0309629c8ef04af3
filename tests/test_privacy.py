"""Privacy, end to end: plant one patient number, one message body and every secret, drive every
surface of smserror with them (the `run` service against the fakes, then each CLI command), and
look for them everywhere something can leak: what Slack and Teams received, every HTTP answer
the service gave, the CLI's stdout/stderr, every log record at DEBUG from every logger, and the
raw bytes of the SQLite stores.

The rules (docs/interface): a message body is never stored nor shown; a full phone number
appears only in the store and in the operator's own `hygiene --csv` file (not even the
ephemeral `/smserror` answer echoes it: the bot answers with the number masked; the Share in
channel button carries only a code); no secret appears in any log, output, answer or store.

Logs are checked as the CLI's handlers write them (`cli.configure_logging`, which masks numbers
in every record: at DEBUG, slack_sdk's Socket Mode client dumps each envelope, typed text and all).
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bot import cli
from jobs.views.actions import ActionId
from tests.fakes.slack_api import TOKEN
from tests.fakes.slack_socket import APP_TOKEN
from tests.fakes.teams_webhook import SECRET_QUERY
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID
from tests.http import get, post
from tests.test_poll import cli_env, run_cli
from tests.test_run_e2e import CHANNEL, PATIENT, PUBLIC, SERVICE_SID, alerts_in, callback, settings_for
from tests.test_slack_http import SECRET as SLACK_SIGNING_SECRET
from tests.test_slack_http import signed, slash_body
from tests.test_socket_mode import slash_payload
from tests.test_teams_outgoing import SECRET as TEAMS_OUTGOING_SECRET
from tests.test_teams_outgoing import activity, sign

NUMBER = PATIENT  # +12025550187
NUMBER_FORMS = (NUMBER, NUMBER[1:], NUMBER[2:])  # E.164, digits only, national
MARKER = "Quokkaberry"
BODY = f"Hi Ana, your lip filler touch-up is confirmed for 10:00. {MARKER} Reply STOP to opt out"
SUB = "AC" + "5" * 32
_SEPARATORS = re.compile(r"(?<=\d)[ ().\-\u00a0]+(?=\d)")
LOGGERS = ("", "smserror", "slack_sdk", "slack_bolt", "twilio", "apscheduler", "waitress", "urllib3")


class Seen:
    """Everything that left the code under test, each piece labelled with where it was seen."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.items.append((where, text))

    def leaks(self, what: str, needles: dict[str, str], allowed=lambda where: False, squeeze=False) -> list[str]:
        """`squeeze`: also look with the separators between digits taken out, so that a number
        written `+1 (202) 555-0187` is found too."""
        found = []
        for where, text in self.items:
            if allowed(where):
                continue
            if squeeze:
                text = _SEPARATORS.sub("", text)
            for name, needle in needles.items():
                at = text.find(needle)
                if at >= 0:
                    context = text[max(0, at - 80): at + len(needle) + 80].replace("\n", "\\n")
                    found.append(f"{what} ({name}) in {where}: …{context}…")
        return found


def test_no_body_number_or_secret_leaks_anywhere(twilio, slack_sm, teams, start_service, monkeypatch, tmp_path,
                                                  capsys, caplog):
    slack = slack_sm  # the fake Slack Web API, with Socket Mode beside it
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    cli.configure_logging(verbose=True)  # what `smserror -v run` sets up: the records below are what it writes
    seen = Seen()
    sub_token = twilio.add_subaccount(SUB, "Glow Clinic")
    secrets = {
        "Slack bot token": TOKEN, "Slack app token": APP_TOKEN, "Slack signing secret": SLACK_SIGNING_SECRET,
        "Twilio auth token": AUTH_TOKEN,
        "Twilio subaccount token": sub_token, "Teams webhook sig": SECRET_QUERY.split("=", 1)[1],
        "Teams outgoing secret": TEAMS_OUTGOING_SECRET,
        "Teams outgoing secret (raw)": base64.b64decode(TEAMS_OUTGOING_SECRET).decode(),
    }
    plant_messages(twilio)

    # -- `smserror run`: polls, callbacks, buttons, /smserror, @smserror ----------------------
    service = start_service(settings_for(twilio, slack, teams, slack_signing_secret=SLACK_SIGNING_SECRET,
                                         teams_outgoing_secret=TEAMS_OUTGOING_SECRET, twilio_subaccounts="all",
                                         slack_app_token=APP_TOKEN))
    # 30033 (account-level), the 30007 spike, and 30034 in the subaccount
    assert slack.wait_for(lambda: len(alerts_in(slack)) >= 3, timeout=8), [m.text for m in slack.messages]
    reply = callback(service.url, 30032, "SM" + "c" * 32)
    seen.add("HTTP answer to a status callback", reply.content)
    reply = sub_callback(service.url, sub_token, 30023, "SM" + "d" * 32)
    seen.add("HTTP answer to a subaccount status callback", reply.content)
    assert reply.status_code == 200
    assert slack.wait_for(lambda: len(alerts_in(slack)) >= 5, timeout=5), [m.text for m in alerts_in(slack)]

    keys = [alert_key(alert) for alert in alerts_in(slack)]
    for n, (action, key) in enumerate([(ActionId.ALERT_EXAMPLES, keys[0]), (ActionId.ALERT_EXAMPLES, keys[1]),
                                       (ActionId.ALERT_ACK, keys[0]), (ActionId.ALERT_SNOOZE, keys[1]),
                                       (ActionId.SHARE_IN_CHANNEL, "21610"), (ActionId.SHARE_IN_CHANNEL, NUMBER),
                                       (ActionId.SHOW_CODE.value + "_0", NUMBER)]):
        reply = click(service.url, slack, action, key, f"click{n}")
        seen.add(f"HTTP answer to the {action} button", reply.body)
    for n, text in enumerate([NUMBER, NUMBER[2:], f"opted out {NUMBER}", f"30007 for {NUMBER}", "+1 (202) 555-0187"]):
        body = slash_body(text, response_url=slack.response_url(f"slash{n}"))
        reply = post(service.url + "/slack/events", body, signed(body))
        assert reply.status == 200
        seen.add(f"HTTP answer to `/smserror {text}`", reply.body)
    for text in [NUMBER, f"landline {NUMBER}", NUMBER[1:]]:
        body = activity(f"<at>smserror</at> {text}")
        reply = post(service.url + "/teams/messages", body, sign(body))
        assert reply.status == 200
        seen.add(f"HTTP answer to `@smserror {text}` in Teams", reply.body)
    seen.add("HTTP answer to /healthz", get(service.url + "/healthz").body)
    assert slack.socket.wait_connected(5), "Socket Mode never connected"
    for n, text in enumerate([NUMBER, f"opted out {NUMBER}"]):
        envelope = slack.socket.send_envelope("slash_commands", slash_payload(text, slack.response_url(f"sm{n}")))
        ack = slack.socket.ack(envelope)
        assert ack is not None, "no Socket Mode ack"
        seen.add(f"Socket Mode ack of `/smserror {text}`", json.dumps(ack))
    # the buttons' work is lazy: wait for their answers (response_url posts, the examples ephemerals)
    assert slack.wait_for(lambda: len(slack.ephemeral) >= 2 and {"click2", "click3", "click4"} <= set(slack.responses),
                          timeout=5), (slack.ephemeral, slack.responses)
    assert teams.wait_for(lambda: len(teams.cards) >= 5, timeout=5)
    service.stop()
    sanity_of_run(slack, teams)

    # -- the CLI ------------------------------------------------------------------------------
    for name in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "TEAMS_OUTGOING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    env = cli_env(twilio, tmp_path, SLACK_BOT_TOKEN=TOKEN, SLACK_CHANNEL=CHANNEL, SLACK_API_URL=slack.api_url,
                  TEAMS_WEBHOOK_URL=teams.webhook_url, TWILIO_SUBACCOUNTS="all")
    csv_file, jsonl_file = import_files(tmp_path)
    hygiene_csv = tmp_path / "hygiene.csv"
    commands = [  # (exit code, argv)
        (0, ("poll", "--once")), (0, ("-v", "poll", "--once")), (0, ("import", str(csv_file), str(jsonl_file))),
        (0, ("digest",)), (0, ("digest", "--dry-run")), (0, ("digest", "--json")),
        (0, ("digest", "--since", "7d", "--dry-run")), (0, ("hygiene",)), (0, ("hygiene", "--csv", str(hygiene_csv))),
        (1, ("lookup", NUMBER)), (1, ("lookup", "--json", NUMBER)), (0, ("lookup", "opted", "out", NUMBER)),
        (1, ("lookup", NUMBER[2:])), (0, ("demo",)),
    ]
    for expected, argv in commands:
        code = run_cli(monkeypatch, tmp_path, env, *argv)
        out, err = capsys.readouterr()
        assert code == expected, (argv, out, err)
        seen.add(f"stdout of `smserror {' '.join(argv)}` (exit {code})", out)
        seen.add(f"stderr of `smserror {' '.join(argv)}` (exit {code})", err)

    # -- what reached Slack and Teams, the logs, the stores -----------------------------------
    for fake, name in ((slack, "Slack"), (teams, "Teams")):
        for request in list(fake.requests):
            seen.add(f"request body received by fake {name} {request.method} {request.path}", request.body)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        seen.add(f"log record {record.name} {record.levelname} ({Path(record.pathname).name}:{record.lineno})",
                 formatter.format(record))
    assert any(r.name.startswith("slack_sdk") and r.levelno == logging.DEBUG for r in caplog.records)
    stores = {name: store_bytes(tmp_path / name) for name in ("service.db", "cli.db")}
    for name, raw in stores.items():
        assert NUMBER.encode() in raw, f"the planted number never reached {name}: the test drove nothing"
        seen.add(f"SQLite file {name} (+ -wal, after a checkpoint)", raw)
    csv_text = hygiene_csv.read_text()
    assert NUMBER in csv_text  # the one place a full number belongs (besides the store)
    seen.add("the hygiene CSV file", csv_text)


    def number_allowed(where: str) -> bool:
        return where.startswith("SQLite file") or where == "the hygiene CSV file"

    leaks = (seen.leaks("message body", {"marker word": MARKER})
             + seen.leaks("full phone number", {f"form {form}": form for form in NUMBER_FORMS}, number_allowed,
                         squeeze=True)
             + seen.leaks("secret", secrets))
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(leaks)
    # Socket Mode logs each envelope at DEBUG: what the user typed reached the logs, masked
    assert any("/smserror" in r.getMessage() and "+1••••••0187" in r.getMessage() for r in caplog.records)


def plant_messages(twilio) -> None:
    now = int(time.time())
    planted = dict(recipient=NUMBER, body=BODY, status="undelivered")
    for n in range(3):
        twilio.add_message(date_sent=now - 900 + n, error_code=30033, **planted)  # account-level: alerts at once
    for n in range(25):
        twilio.add_message(date_sent=now - 1800 + n * 30, error_code=30007, **planted)  # a spike: 25 in an hour
    for n, code in enumerate((21610, 30003, 30006, 21614)):  # contact-level: the digest and hygiene
        twilio.add_message(date_sent=now - 3000 + n, error_code=code, **planted)
    twilio.add_message(date_sent=now - 100, status="delivered", recipient=NUMBER, body=BODY)
    for n in range(2):
        twilio.add_message(SUB, date_sent=now - 600 + n, error_code=30034, **planted)


def sub_callback(service_url: str, token: str, code: int, sid: str):
    """A subaccount's callback, signed with its own token, carrying the body and the number."""
    import requests

    form = {"MessageSid": sid, "AccountSid": SUB, "MessagingServiceSid": SERVICE_SID, "From": "+12025550100",
            "To": NUMBER, "Body": BODY, "MessageStatus": "failed", "ErrorCode": str(code), "ApiVersion": "2010-04-01"}
    signature = RequestValidator(token).compute_signature(PUBLIC + "/twilio/status", form)
    return requests.post(service_url + "/twilio/status", data=form, headers={"X-Twilio-Signature": signature},
                         timeout=5)


def alert_key(alert) -> str:
    return next(e["value"] for b in alert.blocks if b["type"] == "actions" for e in b["elements"]
                if e.get("action_id") == ActionId.ALERT_ACK.value)


def click(service_url: str, slack, action: str, value: str, response: str):
    """A signed button click (block_actions interaction) to /slack/events."""
    payload = {
        "type": "block_actions", "user": {"id": "U1", "name": "amy"}, "team": {"id": "T1"},
        "channel": {"id": CHANNEL}, "container": {"type": "message", "channel_id": CHANNEL},
        "response_url": slack.response_url(response), "trigger_id": "1.2.3",
        "actions": [{"type": "button", "action_id": str(action), "value": value, "block_id": "b"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    reply = post(service_url + "/slack/events", body, signed(body))
    assert reply.status == 200, reply.body
    return reply


def sanity_of_run(slack, teams) -> None:
    """The run must have shown the (masked) number, or the absence of leaks proves nothing."""
    traffic = slack.all_traffic() + teams.all_traffic()
    assert "0187" in traffic and ("•" in traffic or "\\u2022" in traffic), traffic[:2000]
    assert json.dumps(slack.responses.get("click4", [])).count("in_channel") == 1  # shared 21610


def import_files(folder: Path) -> tuple[Path, Path]:
    """A message-log CSV and a BulkExport day file, each with good lines and bad lines that hold
    the number and the body."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    csv_file = folder / "messages.csv"
    csv_file.write_text(
        "Sid,From,To,Body,Status,ErrorCode,SentDate\n"
        f"SM{'e' * 32},+12025550100,{NUMBER},\"{BODY}\",undelivered,30005,{now}\n"
        f"SM{'f' * 32},+12025550100,{NUMBER},\"{BODY}\",failed,not-a-code {NUMBER},{now}\n"
        f"{NUMBER},{BODY}\n"
        f"SM{'1' * 32},+12025550100,{NUMBER},\"{BODY}\",failed,30008,{NUMBER}\n"
    )
    jsonl_file = folder / "day.jsonl.gz"
    good = {"sid": "SM" + "2" * 32, "account_sid": MAIN_SID, "from": "+12025550100", "to": NUMBER, "body": BODY,
            "status": "failed", "error_code": 30005, "date_sent": now}
    lines = [json.dumps(good), json.dumps(good | {"sid": "SM" + "3" * 32, "to": [NUMBER]}),
             f'{{"sid": "SM{"4" * 32}", "to": "{NUMBER}", "body": "{BODY}", "status": ',
             json.dumps(good | {"sid": "SM" + "5" * 32, "error_code": NUMBER})]
    jsonl_file.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return csv_file, jsonl_file


def store_bytes(path: Path) -> bytes:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

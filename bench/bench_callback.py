"""Bench: a Twilio status callback through a running `smserror run`, to the Slack alert.

Starts the real service in a subprocess (waitress, signature check, store, alert grouping,
outbox, delivery thread, slack_sdk) pointed at a fake Slack Web API in this process. Each
round POSTs a signed 30033 callback for a new messaging service (so each opens a new alert
group) and times (a) the HTTP answer to Twilio and (b) the arrival of chat.postMessage at the
fake Slack. Reports p50 / p99 / max and the service's peak RSS.

    .venv/bin/python bench/bench_callback.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twilio.request_validator import RequestValidator

from bench.bench_alert_latency import CHANNEL, TimedSlack, time_to_slack
from bench.common import free_port, peak_rss_mb, percentile, start_service, timed_post, wait_healthy
from tests.fakes.slack_api import TOKEN

AUTH_TOKEN = "bench-auth-token"
ACCOUNT = "AC" + "1" * 32
PUBLIC = "https://smserror.bench.invalid"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    port = free_port()
    with TimedSlack() as slack, tempfile.TemporaryDirectory() as tmp:
        service = start_service(port, {
            "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "bench", "SLACK_CHANNEL": CHANNEL,
            "SLACK_API_URL": slack.api_url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "SMSERROR_PUBLIC_URL": PUBLIC,
            "SMSERROR_DB": str(Path(tmp) / "bench.db")})
        try:
            wait_healthy(port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            answers, to_slack = [], []
            for n in range(args.rounds):
                form = {"MessageSid": f"SM{n:032x}", "AccountSid": ACCOUNT, "MessagingServiceSid": f"MG{n:032x}",
                        "From": "+12025550100", "To": "+12025550142", "MessageStatus": "undelivered",
                        "ErrorCode": "30033"}
                body = urlencode(form)
                headers = {"Content-Type": "application/x-www-form-urlencoded",
                           "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
                               PUBLIC + "/twilio/status", form)}

                def send(body: str = body, headers: dict = headers) -> None:
                    answers.append(timed_post(conn, "/twilio/status", body, headers))

                to_slack.append(time_to_slack(slack, send) * 1000)
            rss = peak_rss_mb(service.pid)
        finally:
            service.terminate()
            service.wait(timeout=15)
    for name, values in (("callback answered", answers), ("callback → chat.postMessage", to_slack)):
        print(f"{name}: n={len(values)}  p50 {statistics.median(values):.2f} ms  "
              f"p99 {percentile(values, 0.99):.2f} ms  max {max(values):.2f} ms")
    print(f"service peak RSS {rss:.1f} MB")


if __name__ == "__main__":
    main()

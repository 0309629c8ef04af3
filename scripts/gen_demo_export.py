"""Write jobs/data/demo-messages.jsonl.gz: one synthetic Twilio BulkExport "Messages" day file.

Everything in it is made up with a fixed seed (same bytes on every run): fake account, service
and message SIDs, phone numbers in the fictional 555-01xx range (+1 NPA 555 01xx), template
bodies. The mix follows what an aesthetics practice group sees: mostly delivered, with carrier
filtering (30007), opt-outs (21610), unreachable handsets (30003), landlines (30006), a few
unknown-destination and unknown errors, and a burst of 10DLC registration trouble (30034
unregistered number, 30033 campaign suspended) on one account so the alerts have something to show.

    python scripts/gen_demo_export.py [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20260114
DAY = datetime(2026, 1, 14, tzinfo=UTC)  # jobs.importer.DEMO_DAY_END is the day after
OUT = Path(__file__).resolve().parents[1] / "jobs" / "data" / "demo-messages.jsonl.gz"
ACCOUNTS = 4
MESSAGES = 3000
FAILURES = [  # (error code, status, weight)
    (30007, "undelivered", 30),
    (21610, "failed", 22),
    (30003, "undelivered", 20),
    (30006, "undelivered", 16),
    (30005, "undelivered", 6),
    (30008, "undelivered", 5),
    (21614, "failed", 3),
]
BODIES = [
    "Hi {n}, this is a reminder of your appointment tomorrow at {t}. Reply C to confirm.",
    "{n}, your treatment plan is ready to review in the patient portal.",
    "Thanks for visiting today, {n}! Reply STOP to opt out.",
]
NAMES = ["Alex", "Sam", "Jordan", "Taylor", "Casey", "Robin"]


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _number(rng: random.Random) -> str:
    return f"+1{rng.choice([202, 312, 415, 617, 720])}55501{rng.randrange(100):02d}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def records(rng: random.Random):
    accounts = [("AC" + _hex(rng), "MG" + _hex(rng), _number(rng)) for _ in range(ACCOUNTS)]
    codes, statuses, weights = zip(*[(c, s, w) for c, s, w in FAILURES], strict=True)
    for _ in range(MESSAGES):
        account, service, sender = rng.choice(accounts)
        sent = DAY + timedelta(seconds=rng.randrange(7 * 3600, 21 * 3600))
        roll = rng.random()
        status, code = "delivered", None
        if roll < 0.12:
            pick = rng.choices(range(len(codes)), weights)[0]
            status, code = statuses[pick], codes[pick]
        elif roll < 0.13:
            status = "sent"
        yield _record(rng, account, service, sender, sent, status, code)
    # the 10DLC burst: one account's traffic blocked for an hour in the afternoon
    account, service, sender = accounts[1]
    for i in range(24):
        sent = DAY + timedelta(hours=15, seconds=rng.randrange(3600))
        code = 30034 if i < 18 else 30033
        yield _record(rng, account, service, sender, sent, "failed" if code == 30034 else "undelivered", code)


def _record(rng, account, service, sender, sent, status, code) -> dict:
    body = rng.choice(BODIES).format(n=rng.choice(NAMES), t=f"{rng.randrange(9, 17)}:{rng.choice(['00', '30'])}")
    return {
        "account_sid": account, "sid": "SM" + _hex(rng), "messaging_service_sid": service, "from": sender,
        "to": _number(rng), "body": body, "status": status, "error_code": code, "direction": "outbound-api",
        "num_segments": "1", "num_media": "0", "price": "-0.00790", "date_created": _iso(sent - timedelta(seconds=1)),
        "date_sent": _iso(sent), "date_updated": _iso(sent + timedelta(seconds=rng.randrange(5, 900))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rng = random.Random(SEED)
    lines = sorted(records(rng), key=lambda r: (r["date_sent"], r["sid"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        for record in lines:
            out.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
    print(f"wrote {len(lines)} records to {args.out}")


if __name__ == "__main__":
    main()

"""Building the digest report from the store: counts, previous window, trend, accounts,
evidence from the article's windows, hygiene; the queries' index use; the CLI."""

from __future__ import annotations

import json
import re
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from jobs.digest import build_report, dedupe_key, parse_since
from jobs.rules import Route

H = 3600
DAY = 86_400
END = 1_773_057_600  # 2026-03-09T12:00:00Z
NY = ZoneInfo("America/New_York")
AC1 = "AC" + "1" * 32
AC2 = "AC" + "2" * 32


def add_failure(db, sid, code, sent_at, account=AC1, recipient="+15550001111", status="undelivered"):
    db.execute(
        "INSERT INTO failures (sid, account_sid, service_sid, sender, recipient, status, error_code, sent_at,"
        " updated_at, first_seen, source) VALUES (?, ?, NULL, '+15559990000', ?, ?, ?, ?, ?, ?, 'import')",
        [sid, account, recipient, status, code, sent_at, sent_at, sent_at],
    )


class RecordingDestination:
    """A destination (jobs/deliver.py's protocol) that keeps what it was sent."""

    def __init__(self, name="slack"):
        self.name = name
        self.kinds = None
        self.sent = []

    def send(self, item):
        self.sent.append(item)
        return f"{self.name}-{len(self.sent)}"

    def update(self, item, ref):  # pragma: no cover - digests are never edited
        raise AssertionError("digests are not edited")


def report(db, start=END - DAY, end=END, **kw):
    return build_report(db, start, end, tz=NY, period="since:24h", title="SMS failure digest", window_label="24 h",
                        now=end, **kw)


def test_counts_order_previous_window_and_trend(db):
    for i in range(5):
        add_failure(db, f"SMa{i}", 30007, END - 1 * H - i)
    for i in range(2):
        add_failure(db, f"SMb{i}", 21610, END - 2 * H - i, recipient=f"+1555000200{i}")
    for i in range(3):
        add_failure(db, f"SMc{i}", 30007, END - DAY - 5 * H - i)  # the previous 24 h
    add_failure(db, "SMd0", 30007, END - 3 * DAY - H)  # four days back: trend only
    add_failure(db, "SMlate", 30007, END)  # the window is [start, end): not this one
    r = report(db)
    assert r.total == 7 and r.previous_total == 3
    assert [(e.code, e.count, e.previous) for e in r.codes] == [(30007, 5, 3), (21610, 2, 0)]
    filtered = r.codes[0]
    assert filtered.daily == [0, 0, 0, 1, 0, 3, 5]
    assert r.daily_total == [0, 0, 0, 1, 0, 3, 7]
    assert filtered.title == "Message filtered" and filtered.category == "carrier"
    assert filtered.meaning and filtered.first_step
    assert filtered.docs_url.endswith("/30007")
    assert r.accounts == [{"sid": AC1, "name": "", "total": 7}]
    assert json.loads(json.dumps(r.to_dict()))["codes"][0]["code"] == 30007


def test_unknown_code_still_listed(db):
    add_failure(db, "SMx", 99999, END - H)
    (entry,) = report(db).codes
    assert entry.code == 99999 and entry.title == "Unknown error code" and entry.category == "other"
    assert entry.evidence is None


def test_several_accounts_are_counted_separately(db):
    db.execute("INSERT INTO poll_state (account_sid, friendly_name) VALUES (?, ?)", [AC2, "Glow Clinic +15551234567"])
    for i in range(3):
        add_failure(db, f"SM1{i}", 30003, END - H - i, account=AC1)
    for i in range(4):
        add_failure(db, f"SM2{i}", 30003, END - H - i, account=AC2)
    add_failure(db, "SM30", 30034, END - H, account=AC2)
    r = report(db)
    assert r.accounts == [{"sid": AC2, "name": "Glow Clinic +1••••••4567", "total": 5},
                          {"sid": AC1, "name": "", "total": 3}]
    assert r.codes[0].accounts == [[AC2, 4], [AC1, 3]]
    assert r.codes[1].accounts == [[AC2, 1]]


def sids(entry):
    return [e["sid"] for e in entry.evidence.examples]


def test_evidence_comes_from_the_window_the_article_names(db):
    # a 10-day digest so every code is in it; each code's evidence has its own window
    start = END - 10 * DAY
    for sid, age in (("SM3a", 1 * H), ("SM3b", 23 * H), ("SM3c", 25 * H), ("SM3d", 3 * DAY)):
        add_failure(db, sid, 30003, END - age, recipient="+15557654321")
    ages = (("SM7a", 2 * DAY), ("SM7b", 6 * DAY), ("SM7c", 6 * DAY + 23 * H), ("SM7d", 7 * DAY + H))
    for n, (sid, age) in enumerate(ages):
        add_failure(db, sid, 30007, END - age, recipient=f"+1555000700{n}")  # 30007 wants different contacts
    for sid, age in (("SM8a", 47 * H), ("SM8b", 49 * H), ("SM8c", 1 * H), ("SM8d", 2 * H), ("SM8e", 3 * H)):
        add_failure(db, sid, 30008, END - age)
    for sid, age in (("SM24a", 9 * DAY), ("SM24b", 1 * DAY), ("SM24c", 5 * DAY), ("SM24d", 11 * DAY)):
        add_failure(db, sid, 30024, END - age)
    add_failure(db, "SM4", 30004, END - 30 * H)  # in the digest, but none in its 24 h evidence window
    codes = {e.code: e for e in report(db, start=start).codes}

    e3 = codes[30003].evidence
    assert sids(codes[30003]) == ["SM3a", "SM3b"] and e3.available == 2 and e3.window_hours == 24
    assert e3.examples[0]["to"] == "+1••••••4321"
    assert e3.start == END - DAY and e3.end == END
    assert sids(codes[30007]) == ["SM7a", "SM7b", "SM7c"] and codes[30007].evidence.window_hours == 168
    assert codes[30007].evidence.what == "contact links"
    # 30008: no older than 48 h; newest three of the four inside it
    assert sids(codes[30008]) == ["SM8c", "SM8d", "SM8e"] and codes[30008].evidence.available == 4
    # 30024 names no age: message IDs from the digest's own window
    assert sids(codes[30024]) == ["SM24b", "SM24c", "SM24a"] and codes[30024].evidence.what == "message IDs"
    assert codes[30004].evidence.examples == [] and codes[30004].evidence.available == 0


def test_codes_without_an_evidence_ask_have_none(db):
    add_failure(db, "SMo", 21610, END - H)
    assert report(db).codes[0].evidence is None


def test_quiet_day(db):
    add_failure(db, "SMold", 30007, END - 3 * DAY)
    r = report(db)
    assert r.total == 0 and r.codes == [] and r.accounts == []
    assert r.daily_total == [0, 0, 0, 0, 1, 0, 0]
    assert r.hygiene.recipients == 0


def test_hygiene_summary_counts_recipients_and_masks_examples(db):
    add_failure(db, "SMh1", 21610, END - H, recipient="+15550000001")
    add_failure(db, "SMh2", 21610, END - 2 * H, recipient="+15550000001")
    add_failure(db, "SMh3", 30006, END - 3 * H, recipient="+15550000002")
    add_failure(db, "SMh4", 21635, END - 4 * H, recipient="+15550000002")
    add_failure(db, "SMh5", 21211, END - 5 * H, recipient="+15550000003")
    add_failure(db, "SMh6", 30005, END - 6 * H, recipient="+15550000004")
    add_failure(db, "SMh7", 30007, END - 7 * H, recipient="+15550000005")  # not a hygiene code
    hygiene = report(db).hygiene
    assert hygiene.recipients == 3, "a 21211 number is to be corrected, not removed"
    assert hygiene.to_correct == 1
    assert list(hygiene.by_reason.items()) == [("opted out", 1), ("landline or unreachable carrier", 1),
                                               ("landline", 1), ("inactive", 1)]
    assert [e["number"] for e in hygiene.examples] == ["+1••••••0001", "+1••••••0002", "+1••••••0003", "+1••••••0004"]
    assert hygiene.examples[2] == {"number": "+1••••••0003", "reason": "wrong format or typo", "code": 21211}
    assert hygiene.examples[0] == {"number": "+1••••••0001", "reason": "opted out", "code": 21610}


def _plan(db, sql, params):
    return " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.parametrize("route", [None, Route("one clinic", frozenset({AC1}), slack_channel="C0ROUTE01")])
@pytest.mark.parametrize("analyze", [False, True])
def test_queries_use_the_indexes(db, monkeypatch, analyze, route):
    plans = []
    real_execute = type(db).execute

    def spy(self, sql, params=None):
        if sql.lstrip().upper().startswith("SELECT") and "FROM failures" in sql:
            plans.append((sql, _plan(self, sql, params)))
        return real_execute(self, sql, params)

    for i in range(200):
        add_failure(db, f"SMq{i}", (30003, 21610, 30007, 30005)[i % 4], END - 900 * i - 1,
                    recipient=f"+1555000{i:04d}", account=(AC1, AC2)[i % 2])
    if analyze:  # statistics change the planner's mind; the plans must stay on an index
        db.execute("ANALYZE")
    monkeypatch.setattr(type(db), "execute", spy)
    report(db, route=route)  # a route's digest: the same queries, limited to its accounts
    assert len(plans) >= 6
    for sql, plan in plans:
        assert not re.search(r"SCAN failures(?! USING)", plan), (sql, plan)  # never a full table scan
        assert "failures_by_time" in plan or "failures_by_code" in plan, (sql, plan)
    # counts never touch the table; but a route's evidence count reads the code's rows for their account
    counts = [(s, p) for s, p in plans if "COUNT(*)" in s and "recipient" not in s and (not route or "GROUP BY" in s)]
    assert counts and all("COVERING INDEX" in p for s, p in counts), counts
    per_account = [p for s, p in plans if "GROUP BY error_code, account_sid" in s]
    assert per_account and "COVERING INDEX failures_by_time" in per_account[0]


@pytest.mark.parametrize("text, seconds", [("6h", 6 * H), ("24h", DAY), ("7d", 7 * DAY), (" 2D ", 2 * DAY)])
def test_parse_since(text, seconds):
    assert parse_since(text)[0] == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "-1h", "32d", "1w", "7 days"])
def test_parse_since_rejects(text):
    with pytest.raises(ValueError, match="--since"):
        parse_since(text)


def test_dedupe_keys():
    assert dedupe_key({"period": "daily:2026-03-09", "end": END}) == "digest:daily:2026-03-09"
    assert dedupe_key({"period": "since:24h", "end": END}) == f"digest:since:24h:{END // 60}"


# ------------------------------------------------------------------ CLI


def _recent(db, sid, code, recipient="+15551234567"):
    import time

    add_failure(db, sid, code, int(time.time()) - 600, recipient=recipient)


def test_cli_dry_run_prints_the_digest_without_full_numbers(cli_env, capsys):
    _recent(cli_env, "SMcli1", 30003)
    _recent(cli_env, "SMcli2", 21610)
    assert main(["digest", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 failures in the last 24 h · new, none before · 2 codes." in out
    assert "30003 · Unreachable destination handset" in out and "SMcli1" in out
    assert "+15551234567" not in out and "+1••••••4567" in out


def test_cli_json(cli_env, capsys):
    _recent(cli_env, "SMj", 30008)
    assert main(["digest", "--since", "6h", "--dry-run", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["window_label"] == "6 h" and data["codes"][0]["code"] == 30008


def test_cli_bad_since_is_one_line_exit_2(cli_env, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["digest", "--since", "yesterday"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--since" in err and "Traceback" not in err


def test_cli_posts_through_the_outbox_to_stdout_when_nothing_is_configured(cli_env, capsys):
    from storage import outbox

    _recent(cli_env, "SMp", 30007)
    assert main(["digest"]) == 0
    captured = capsys.readouterr()
    assert "SMS failure digest" in captured.out and "1 failure" in captured.out
    assert "delivered 2" in captured.err, "the digest and its fixes"
    rows = cli_env.execute("SELECT dedupe_key, destination, kind, sent_at FROM outbox").fetchall()
    assert [(r[1], r[2]) for r in rows] == [("stdout", "digest"), ("stdout", "digest-fixes")]
    assert all(r[3] is not None for r in rows)
    assert rows[0][0].startswith("digest:since:24h:") and rows[0][0].endswith("@stdout")
    assert outbox.pending(cli_env) == []

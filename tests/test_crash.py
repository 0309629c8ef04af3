"""The issue's crash test: `smserror run` killed -9 fifty times on one store, mid-callback and
mid-post, against a Slack that stores late, stores and answers late or never, or stores and
answers 5xx; then every acknowledged alert is in Slack once. The scenario is tests/crash_scenario.py
(bench/bench_crash.py runs it with more kills and prints the figures)."""

from __future__ import annotations

from tests.crash_scenario import run_crash

KILLS = 50


def test_kills_at_many_points_lose_and_double_no_alert(tmp_path):
    report = run_crash(tmp_path, KILLS, seed=20240611)

    story = f"{report.summary()}\n  lost: {report.lost}\n  doubled: {report.doubled}\n  stderr: {report.logs}"
    assert report.kills == KILLS, story
    assert report.acknowledged >= KILLS and report.follow_ups > 0, story
    assert sum(report.phases[p] for p in ("mid-request", "stored, not recorded", "claimed, not in Slack")) >= 5, \
        "kills must land between a claim and its record, not only between passes: " + story
    assert report.lost == [], story
    assert report.doubled == [], story
    assert report.unacknowledged == 0 and report.unsent == 0, "the final run took every callback and drained: " + story

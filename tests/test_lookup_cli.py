"""`smserror lookup`: output and exit codes, in-process and as a real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_a_code_prints_its_card(capsys):
    assert main(["lookup", "30034"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("30034 · US A2P 10DLC - Message from an Unregistered Number\n")
    assert "Category: Account / registration" in out
    assert "How to fix it\n  1. " in out and "24 hours" in out
    assert "Twilio docs: https://www.twilio.com/docs/api/errors/30034" in out


def test_evidence_is_shown_for_support(capsys):
    assert main(["lookup", "Error", "30007"]) == 0
    out = capsys.readouterr().out
    assert ("What Support will ask for\n  contact links for 3 or more different contacts whose texts were marked"
            " undelivered, from the past 7 days.") in out
    assert "Good to know\n  • " in out


def test_words_print_ranked_matches(capsys):
    assert main(["lookup", "opted", "out"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "best first" in lines[0]
    assert lines[1].startswith("• 21610 · ")


def test_unknown_code_exits_1_with_the_docs_link(capsys):
    assert main(["lookup", "99999"]) == 1
    assert "https://www.twilio.com/docs/api/errors/99999" in capsys.readouterr().out


def test_near_miss_exits_1_with_suggestions(capsys):
    assert main(["lookup", "30070"]) == 1
    out = capsys.readouterr().out
    assert "Did you mean 30007" in out
    assert "• 30007 · Message filtered" in out


def test_no_words_is_usage_on_stderr(capsys):
    assert main(["lookup"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: smserror lookup")
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv,code,kind",
    [
        (["lookup", "21610", "--json"], 0, "card"),
        (["lookup", "--json", "landline"], 0, "matches"),
        (["lookup", "30070", "--json"], 1, "did_you_mean"),
        (["lookup", "99999", "--json"], 1, "not_found"),
    ],
)
def test_json_has_the_same_answer_and_exit_code(capsys, argv, code, kind):
    assert main(argv) == code
    payload = json.loads(capsys.readouterr().out)
    assert payload["kind"] == kind
    if kind == "card":
        card = payload["card"]
        assert card["code"] == 21610 and card["category"] == "contact"
        assert card["steps"] and card["docs_url"].endswith("/21610")
    else:
        assert payload["message"]


def test_json_card_carries_evidence(capsys):
    main(["lookup", "30008", "--json"])
    evidence = json.loads(capsys.readouterr().out)["card"]["evidence"]
    assert evidence == {"count": 3, "window_hours": 48, "what": "message IDs", "status": None, "per_contact": False,
                        "text": "3 or more message IDs no older than 48 hours"}


def _smserror(*args):
    # The installed console script when there is one (as a person runs it), else the module.
    script = Path(sys.executable).parent / "smserror"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    command += ["lookup", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, encoding="utf-8", timeout=60)


def test_as_a_real_command_exit_codes_and_json():
    found, unknown, usage = _smserror("30007"), _smserror("99999"), _smserror()
    as_json = _smserror("landline", "--json")
    assert (found.returncode, unknown.returncode, usage.returncode, as_json.returncode) == (0, 1, 2, 0)
    assert "Message filtered" in found.stdout
    assert "Traceback" not in usage.stderr and usage.stderr.startswith("usage:")
    assert [m["code"] for m in json.loads(as_json.stdout)["matches"][:3]] == [21635, 30006, 21614]


def test_control_characters_never_give_a_traceback():
    result = _smserror("\x1b[31m", "\x07", "30007")
    assert result.returncode in (0, 1)
    assert "Traceback" not in result.stderr


def test_a_reader_that_hangs_up_early_gets_no_traceback():
    command = f"{sys.executable} -m bot.cli demo | head -1"
    result = subprocess.run(command, shell=True, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("Imported the bundled demo day")
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_an_ascii_terminal_gets_replacement_characters_not_a_traceback():
    result = subprocess.run([sys.executable, "-m", "bot.cli", "lookup", "30007"], cwd=REPO, capture_output=True,
                            env={**os.environ, "PYTHONIOENCODING": "ascii"}, timeout=60)
    assert result.returncode == 0
    assert b"Traceback" not in result.stderr and b"Message filtered" in result.stdout

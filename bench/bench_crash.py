"""Bench: the crash test at length. `smserror run` is killed -9 `--kills` times on one store while
signed status callbacks arrive and the fake Slack stores posts late, stores then answers late or
never, or stores then answers 5xx; a last run drains the outbox. Prints the kills, the
acknowledged alerts, lost and doubled (the aim: 0 and 0) and where the kills landed; on a loss
or a double it keeps the store and the runs' stderr.

    .venv/bin/python bench/bench_crash.py [--kills 100] [--seed 1]

Not a test (tests/test_crash.py runs 50 kills); run by hand, copy the figures to the README.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.crash_scenario import run_crash


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=positive, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="smserror-crash-"))
    report = run_crash(folder, args.kills, args.seed)
    print(report.summary())
    for what in report.lost:
        print(f"lost: {what}")
    for what in report.doubled:
        print(f"doubled: {what}")
    if report.lost or report.doubled:
        print(f"kept the store and the runs' stderr: {folder}")
        return 1
    shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())

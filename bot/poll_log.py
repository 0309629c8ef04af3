"""What `smserror run` logs of its polls: a line for each account where a pass found new
failures, and otherwise one summary every SUMMARY_EVERY seconds, not a line per pass (a poll a
minute is 1,440 passes a day). Errors are the poller's to log, one line each, as they happen."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from jobs.poll import PassReport

log = logging.getLogger("smserror.poll")

SUMMARY_EVERY = 900


class PollLog:
    def __init__(self, every: float = SUMMARY_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self._start()

    def _start(self) -> None:
        self.since = self.clock()
        self.passes = self.failed = self.messages = self.new = self.requests = 0

    def add(self, report: PassReport) -> None:
        for account in report.accounts:
            if account.failures_new:
                log.info("poll: %s", account.line())
        self.passes += 1
        self.failed += not report.ok
        self.messages += sum(account.messages_read for account in report.accounts)
        self.new += len(report.new_failures)
        self.requests += report.requests
        if self.clock() - self.since >= self.every:
            log.info("poll: %d passes in the last %d min (%d failed): %d messages read, %d new failures, %d requests",
                     self.passes, round((self.clock() - self.since) / 60), self.failed, self.messages, self.new,
                     self.requests)
            self._start()

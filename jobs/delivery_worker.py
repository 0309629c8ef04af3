"""The outbox's courier inside `smserror run`: one thread that delivers at once when woken
(a status callback just queued an alert) and otherwise every `interval` seconds, so posts that
failed while Slack or Teams was down go out as soon as they are due again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("smserror.delivery")


class DeliveryWorker:
    def __init__(self, deliver: Callable[[], object], interval: float = 15.0) -> None:
        self._deliver = deliver
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="delivery", daemon=True)

    def start(self) -> DeliveryWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Let a delivery in progress finish (its rows are claimed), then end the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()  # a wake during the delivery below makes the next wait return at once
            if self._stopping.is_set():
                return
            try:
                self._deliver()
            except Exception:  # the courier must outlive any one bad delivery
                log.exception("delivery pass failed; retrying in %ss", self._interval)

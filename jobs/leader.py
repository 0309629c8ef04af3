"""One leader among any number of `smserror run` instances on one store.

Each instance runs a heartbeat thread. The leader renews its lease every third of the TTL;
the others try to take it at the same pace, and one does once it has expired: within
TTL + TTL/3 of the leader's last renewal (40 s by default, under the minute the interface
promises). `on_gain` / `on_loss` start and stop what only the leader does (the scheduler, the
courier's deliveries). A leader that cannot renew in time stops leading on its own clock
before anyone else may take over, and its claims are fenced by the lease's epoch anyway.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from storage import leases
from storage.db import StoreError
from storage.leases import Lease

log = logging.getLogger("smserror.leader")

DEFAULT_TTL = 30.0


class Leadership:
    def __init__(self, db: Callable[[], object], *, ttl: float = DEFAULT_TTL, holder: str | None = None,
                 on_gain: Callable[[Lease], None] = lambda lease: None, on_loss: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self.ttl = ttl
        self.holder = holder or leases.process_holder()
        self._on_gain, self._on_loss = on_gain, on_loss
        self._clock = clock
        self._lease: Lease | None = None
        self._leading = False
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="leader", daemon=True)

    @property
    def lease(self) -> Lease | None:
        """The lease while this instance leads, judged by its own clock with a margin."""
        lease = self._lease
        if lease is None or self._clock() >= lease.expires_at - self.ttl / 6:
            return None
        return lease

    @property
    def role(self) -> str:
        return "leader" if self.lease is not None else "standby"

    def tick(self) -> None:
        """Renew the lease, or try to take it; call on_gain / on_loss on a change."""
        with self._lock:
            try:
                db = self._db()
                now = self._clock()
                renewed = leases.renew(db, self._lease, now, self.ttl) if self._lease is not None else None
                self._lease = renewed or leases.acquire(db, leases.LEADER, self.holder, now, self.ttl)
            except (sqlite3.Error, StoreError) as exc:
                log.warning("could not renew or take the leader lease: %s", exc)
            leading = self.lease
            if leading is not None and not self._leading:
                self._leading = True
                log.info("leading (term %d)", leading.epoch)
                self._on_gain(leading)
            elif leading is None and self._leading:
                self._leading, self._lease = False, None
                log.warning("no longer leading: another instance took over or the store did not answer in time")
                self._on_loss()

    def start(self) -> Leadership:
        self.tick()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the heartbeat and hand the lease back at once, so a standby need not wait out the TTL."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(self.ttl)
        with self._lock:
            lease, self._lease = self._lease, None
            if self._leading:
                self._leading = False
                self._on_loss()
            if lease is not None:
                try:
                    leases.release(self._db(), lease)
                except (sqlite3.Error, StoreError) as exc:
                    log.warning("could not hand the leader lease back (it expires in %.0f s): %s", self.ttl, exc)

    def _loop(self) -> None:
        while not self._stopping.wait(self.ttl / 3):
            try:
                self.tick()
            except Exception:  # the heartbeat must outlive one bad tick; on_gain/on_loss errors land here
                log.exception("leader heartbeat failed")

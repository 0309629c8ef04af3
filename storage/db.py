"""The SQLite store: opening it safely and keeping its schema current.

One file, WAL mode so the HTTP threads and the scheduler can read while one writes, and a
busy timeout so a writer waits instead of failing. Times are stored as UTC epoch seconds.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from storage.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000


class StoreError(RuntimeError):
    """The store cannot be opened or is from a newer version of smserror."""


def open_db(path: str | os.PathLike) -> sqlite_utils.Database:
    """Open (creating with mode 0600 if needed) and migrate the store at `path`."""
    path = Path(path)
    if str(path) != ":memory:":
        _create_private(path)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None)
        db = sqlite_utils.Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if str(path) != ":memory:":
            db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        migrate(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"SMSERROR_DB {str(path)!r} cannot be used: {exc}") from None
    return db


def _create_private(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreError(f"SMSERROR_DB {str(path)!r} cannot be created: {exc.strerror}") from None


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> None:
    current = schema_version(db)
    if current > len(MIGRATIONS):
        raise StoreError(f"the store is at schema {current}, newer than this smserror knows ({len(MIGRATIONS)})")
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        # executescript commits on its own, so the version bump is part of the same script
        db.conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")


class LocalDb:
    """One connection per thread to the same store: sqlite3 connections must not be shared
    across threads mid-transaction, and the HTTP server and scheduler each run several."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self._local = threading.local()
        self.get()  # create and migrate once, up front, so a bad path fails at start-up

    def get(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_db(self.path)
        return db

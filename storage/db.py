"""The SQLite store: opening it safely, keeping its schema current, and the one way to write.

One file, WAL mode so readers never wait for the writer, and a busy timeout so a writer waits
instead of failing. Times are stored as UTC epoch seconds.

Several processes share the file (`run` instances, `digest`, `import`, an operator's sqlite3),
so nothing here ever opens or closes the file except through SQLite: closing any descriptor of
a live SQLite file drops every POSIX lock the process holds on it (sqlite.org, "How To Corrupt
An SQLite Database File", 2.2), and the next process to close its connection then deletes the
-wal file another is still writing. A new file is created by SQLite itself and made private
with chmod, which takes no descriptor.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from storage.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000

# Serialises write transactions of this process's threads, whatever connection they use:
# they would otherwise only take turns through SQLite's busy timeout.
_WRITE_LOCK = threading.RLock()
_PREPARE_LOCK = threading.Lock()
_prepared: set[tuple[int, int]] = set()  # (device, inode) of stores this process has migrated


class StoreError(RuntimeError):
    """The store cannot be used: damaged, unreadable, read-only, busy, or from a newer smserror."""


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on any exception). The one write primitive: nested
    use joins the outer transaction, so callers compose writes that must commit together."""
    with _WRITE_LOCK:
        if db.conn.in_transaction:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.rollback()
            raise
        db.execute("COMMIT")


def open_db(path: str | os.PathLike) -> sqlite_utils.Database:
    """A connection to the store at `path`, created (mode 0600) and migrated on first use."""
    name = str(path)
    try:
        if name != ":memory:":
            _prepare(Path(name))
        db = _connect(name)
        if name == ":memory:":
            migrate(db)
        _refuse_newer(db)  # another process may have upgraded the file since this one migrated it
    except sqlite3.DatabaseError as exc:
        raise StoreError(describe_error(name, exc)) from None
    return db


def _connect(name: str) -> sqlite_utils.Database:
    conn = sqlite3.connect(name, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None)
    db = sqlite_utils.Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def _prepare(path: Path) -> None:
    """Create, switch to WAL and migrate, once per process and file."""
    with _PREPARE_LOCK:
        if _identity(path) in _prepared:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"SMSERROR_DB {str(path)!r} cannot be created: {exc.strerror}") from None
        if path.is_dir():
            raise StoreError(f"SMSERROR_DB {str(path)!r} is a directory; name a file")
        created = not path.exists()
        db = _connect(str(path))
        try:
            _use_wal(db)
            if created:
                os.chmod(path, 0o600)
            migrate(db)
        finally:
            db.close()
        identity = _identity(path)
        if identity is not None:  # None would make every missing file look prepared
            _prepared.add(identity)


def _use_wal(db: sqlite_utils.Database) -> None:
    """PRAGMA journal_mode = WAL (persistent in the file; a no-op once set), waiting for the
    write lock as the busy timeout would. Switching a new file upgrades the pragma's own read
    lock to an exclusive one, and SQLite fails that at once rather than call the busy handler
    (which could deadlock): processes creating the store together would get "database is locked"."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(0.005)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def describe_error(name: str, exc: sqlite3.Error) -> str:
    """One line naming the store, what is wrong with it and what to do."""
    text = str(exc)
    where = f"SMSERROR_DB {name!r}"
    if "malformed" in text or "not a database" in text:
        return f"{where} is damaged ({text}): restore it from a backup or move it aside"
    if "readonly" in text or "read-only" in text:
        return f"{where} is read-only ({text}): smserror must be able to write it and its folder"
    if "locked" in text or "busy" in text:
        return f"{where} is busy: another process held its write lock for {BUSY_TIMEOUT_MS // 1000} s ({text})"
    if "unable to open" in text:
        return f"{where} cannot be opened ({text}): check the path and that its folder is writable"
    return f"{where} cannot be used: {text}"


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> None:
    """Run the migrations this store lacks. The version is read inside the write transaction, so
    processes starting together migrate once between them."""
    with transaction(db):
        current = _refuse_newer(db)
        # written even when current: a store this process cannot write fails here, at start-up
        db.execute(f"PRAGMA user_version = {current}")
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")


def _refuse_newer(db: sqlite_utils.Database) -> int:
    current = schema_version(db)
    if current > len(MIGRATIONS):
        raise StoreError(f"the store is at schema {current}, newer than this smserror knows ({len(MIGRATIONS)})")
    return current


def _statements(script: str) -> Iterator[str]:
    # executescript would COMMIT first and end the transaction that guards the version check
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        yield pending


class LocalDb:
    """One connection per thread to the same store: sqlite3 connections must not be shared
    across threads mid-transaction, and the HTTP server and scheduler each run several."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self._local = threading.local()
        self.get()  # create and migrate up front, so a bad path fails at start-up

    def get(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_db(self.path)
        return db

    def check(self) -> None:
        """Raise StoreError unless every table reads back whole. A read-only connection of its
        own: a thread's connection keeps pages cached and would not notice the file damaged
        under it, and a store moved aside must not be created afresh. Counting a table's rows
        NOT INDEXED walks every page of its b-tree and checks each one's header: 50-80 ms for
        a million failures (300 MB), where PRAGMA quick_check, which also reads the indexes,
        takes a second: too slow for a health probe."""
        try:
            conn = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    conn.execute(f"SELECT count(*) FROM [{table}] NOT INDEXED").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError(describe_error(str(self.path), exc)) from None

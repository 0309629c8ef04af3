"""An online copy of the store through SQLite's backup API: consistent while `run` writes to it.

The copy is made in one step, which is one read transaction. The store is always in WAL mode,
where a reader blocks no writer: callbacks, the courier and the leader's lease keep committing
while it runs (a checkpoint only waits, and the WAL grows, for the second or so it takes: 0.9 s
for a million failures, 300 MB, with writes beside it taking 0.3 ms at the median). Copying some
pages per step would hold nothing less, and SQLite restarts a stepped copy from the first page
whenever another connection writes between two steps: measured on that store, 5,000 pages a
step against 5 commits a second had not finished after 30 s and 149 restarts.

The copy goes to a temporary file beside the target, private from its creation (mode 0600: it
holds full phone numbers), which is renamed over the target once complete: a failed or
interrupted backup leaves no half-written file, and an older backup of that name stays whole
until the new one replaces it.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

from storage.db import BUSY_TIMEOUT_MS, describe_error

# files SQLite keeps beside a store: overwriting one of them damages the live store too
_COMPANIONS = ("", "-wal", "-shm", "-journal")


class BackupError(Exception):
    """One line for the operator: what could not be copied where, and why."""


def backup(store: str | os.PathLike, target: str | os.PathLike) -> int:
    """Copy the store at `store` to `target` (mode 0600); the copy's size in bytes."""
    store, target = Path(store), Path(target)
    _refuse_target(store, target)
    if not store.is_file():
        raise BackupError(f"SMSERROR_DB {str(store)!r} does not exist: there is no store to back up")
    try:
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise BackupError(f"cannot write the backup {str(target)!r}: {exc.strerror}") from None
    os.close(fd)
    try:
        _copy(store, Path(temporary), target)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(target.parent)
    return target.stat().st_size


def _refuse_target(store: Path, target: Path) -> None:
    if target.is_symlink():
        raise BackupError(f"the backup {str(target)!r} is a symbolic link: give the real path")
    if target.is_dir():
        raise BackupError(f"the backup {str(target)!r} is a directory: name a file")
    live = {os.path.realpath(str(store) + suffix) for suffix in _COMPANIONS}
    same_inode = target.exists() and store.exists() and os.path.samefile(store, target)
    if os.path.realpath(target) in live or same_inode:
        raise BackupError(f"the backup {str(target)!r} would overwrite the live store (SMSERROR_DB): name another file")


def _copy(store: Path, temporary: Path, target: Path) -> None:
    try:
        source = sqlite3.connect(f"file:{quote(str(store))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise BackupError(describe_error(str(store), exc)) from None
    try:
        copy = sqlite3.connect(temporary)
        try:
            source.backup(copy)
        finally:
            copy.close()  # checkpoints the copy's own WAL into it: one self-contained file
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy SMSERROR_DB {str(store)!r} to {str(target)!r}: {exc}") from None
    finally:
        source.close()


def _sync_directory(path: Path) -> None:
    """Make the rename itself durable, so a power cut cannot take the new backup back. The
    descriptor is the folder's, never the store's: closing it drops no lock on the store."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

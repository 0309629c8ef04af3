"""What listeners need from the running service, injected by build_app rather than imported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from jobs.rules import Rules


@dataclass(frozen=True)
class ListenerDeps:
    store: Callable[[], sqlite_utils.Database]  # this thread's connection to the store
    rules: Rules
    next_digest: Callable[[], int] | None = None  # when the next scheduled digest is due (epoch), for the App Home

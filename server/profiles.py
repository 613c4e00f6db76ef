"""Recently loaded user profiles, kept per worker for a few seconds.

Loading a profile (names, frequent payees, budgets) is a few queries per turn. "Today" is
part of the key, so a new latest transaction takes effect at once; new account, category or
payee names reach the model's enums within ``ttl`` seconds. The tools themselves always read
the database, so no figure is ever stale.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from tools.profile import UserProfile


class ProfileCache:
    """Profiles keyed by user and "today", each kept for ``ttl`` seconds (0 keeps none);
    when full, the oldest entry makes room. Safe to share between worker threads."""

    def __init__(self, ttl: float, max_entries: int = 1024):
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[int, dt.date], tuple[float, UserProfile]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: int, today: dt.date) -> UserProfile | None:
        """The cached profile, or ``None`` when missing or expired."""
        with self._lock:
            entry = self._entries.get((user_id, today))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user_id: int, today: dt.date, profile: UserProfile) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[(user_id, today)] = (time.monotonic() + self.ttl, profile)

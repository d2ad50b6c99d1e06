"""Once per key per process, thread-safe and bounded: for warnings that must be counted, not repeated per call."""

from __future__ import annotations

import threading


class Once:
    def __init__(self, limit: int = 1024) -> None:
        self._seen: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        """True the first time ``key`` is seen (and, past ``limit`` keys, never again: the warning is not a counter
        of distinct client-supplied values)."""
        with self._lock:
            if key in self._seen or len(self._seen) >= self._limit:
                return False
            self._seen.add(key)
            return True

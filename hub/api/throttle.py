"""Throttling of failed sign-ins and failed API key checks, so a key cannot be guessed at request speed.

Failures are counted per client address and per key id (the public `hub_<key_id>_` part of a presented key)
over a sliding window (`api.failure_window_seconds` of hub.yaml). Once a client address or a key id has
`api.max_failures` failures in the window, every further attempt from that address or with that key id,
right or wrong, is answered 429 with Retry-After until the oldest failure leaves the window. Kept in
memory: per `hub serve` process, forgotten at a restart."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

_PRUNE_AT = 10_000  # subjects tracked before those without a failure in the window are dropped


class Throttle:
    def __init__(self, max_failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.window, self._clock = max_failures, window_seconds, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, subjects: Iterable[str]) -> int | None:
        """Seconds until `subjects` (client address, key id) may try again; None when they may now."""
        now = self._clock()
        waits = []
        with self._lock:
            for subject in subjects:
                times = self._recent(subject, now)
                if len(times) >= self.max_failures:
                    waits.append(times[0] + self.window - now)  # the oldest of the last max_failures
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, subjects: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > _PRUNE_AT:
                for subject in [s for s in self._failures if not self._recent(s, now)]:
                    del self._failures[subject]
            for subject in subjects:
                self._failures.setdefault(subject, deque(maxlen=self.max_failures)).append(now)

    def _recent(self, subject: str, now: float) -> deque[float]:
        times = self._failures.get(subject, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times


def subjects(client: str | None, raw_key: str | None) -> list[str]:
    """What a failure counts against: the client address, and the key id when the text names one."""
    out = [f"addr:{client or 'unknown'}"]
    if raw_key and raw_key.strip().startswith("hub_"):
        out.append(f"key:{raw_key.strip()[4:16]}")
    return out

"""Server-side sessions of the steward web UI: the cookie holds a random session id, never the API key.

The server keeps sha256(session id) -> (key id, expiry), so the table alone cannot open a session. A
session ends at sign-out (the same cookie no longer opens /ui), at its expiry (`api.session_hours` of
hub.yaml after sign-in) or when its API key is revoked (hub.api.ui checks the key on every request).
Kept in memory: per `hub serve` process; a restart asks stewards to sign in again."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    def __init__(self, hours: float, clock: Callable[[], float] = time.monotonic):
        self.seconds, self._clock = hours * 3600, clock
        self._live: dict[str, tuple[str, float]] = {}  # sha256(session id) -> (key id, expires at)
        self._lock = threading.Lock()

    def start(self, key_id: str) -> str:
        """A new session for `key_id`; returns its id (for the cookie), which is not stored."""
        session_id, now = secrets.token_urlsafe(32), self._clock()
        with self._lock:
            for h in [h for h, (_, expires) in self._live.items() if expires <= now]:
                del self._live[h]
            self._live[_hash(session_id)] = (key_id, now + self.seconds)
        return session_id

    def key_id(self, session_id: str) -> str | None:
        """The key id of a live session; None for an unknown, ended or expired one."""
        with self._lock:
            key_id, expires = self._live.get(_hash(session_id), (None, 0.0))
            if key_id is not None and expires <= self._clock():
                del self._live[_hash(session_id)]
                return None
            return key_id

    def end(self, session_id: str) -> None:
        with self._lock:
            self._live.pop(_hash(session_id), None)

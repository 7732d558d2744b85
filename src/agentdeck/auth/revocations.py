"""Which login sessions are revoked, as this process last saw it.

An access token names its login session (``sid``: the refresh-token family id). Checking
the database on every request would put a query on the hot path, so answers are kept for
a few seconds. A revocation made in this process marks its entry at once; other processes
see it once their entry is older than the TTL. A revoked session never comes back, so that
answer is kept until the entry is pushed out by newer ones.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

TTL_S = 5.0
_MAX_ENTRIES = 10_000


class SessionRevocations:
    """A small bounded cache: session id → (revoked, when this process learned it)."""

    def __init__(
        self,
        *,
        ttl_s: float = TTL_S,
        max_entries: int = _MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[uuid.UUID, tuple[bool, float]] = {}

    def cached(self, session_id: uuid.UUID) -> bool | None:
        """True or False while this process knows the answer; ``None`` when it must ask."""
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        revoked, seen_at = entry
        if revoked:
            return True
        if self._clock() - seen_at >= self._ttl_s:
            del self._entries[session_id]
            return None
        return False

    def remember(self, session_id: uuid.UUID, revoked: bool) -> None:
        """Keep the database's answer for ``session_id``.

        A revocation is final: a "not revoked" read that started before it (and ends
        after it) does not undo it.
        """
        previous = self._entries.pop(session_id, None)
        revoked = revoked or (previous is not None and previous[0])
        self._entries[session_id] = (revoked, self._clock())
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]

    def revoke(self, session_id: uuid.UUID) -> None:
        """Mark the session revoked now (its access tokens stop working in this process)."""
        self.remember(session_id, True)


# The one process-wide instance: auth checks it on every access token and marks it on
# logout and refresh-token reuse.
session_revocations = SessionRevocations()

"""Values per organisation kept in this process, dropped when the organisation's rows change.

An :class:`OrgCache` watches mapped classes whose rows carry ``org_id`` (or name the
attribute that holds the org id in ``__org_key__``, as the organisation row does). When any session
flushes a new, changed or deleted row of a watched class, the org's entry is dropped at
once, and again when that session commits: a reader that loaded between the flush and the
commit saw what was true before, and must not keep it. Changes are seen through the ORM;
a Core ``update()``/``delete()`` of a watched table must call :meth:`OrgCache.drop` itself.

Other processes' changes are seen when an entry's ``ttl_s`` ends: with several API or
worker processes, a change made in one reaches the others within that time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

T = TypeVar("T")
_CHANGED = "agentdeck.org_cache.changed"
_caches: list[OrgCache[Any]] = []


class OrgCache(Generic[T]):
    """A TTL cache keyed by organisation id, invalidated by the ORM (see the module)."""

    def __init__(
        self,
        *watched: type,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watched = watched
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[uuid.UUID, tuple[float, T]] = {}
        # Bumped by every drop: a load that overlapped a drop is returned but not kept.
        self._generation = 0
        _caches.append(self)

    async def get(self, org_id: uuid.UUID, load: Callable[[], Awaitable[T]]) -> T:
        """The org's live value, or what ``load()`` returns (kept unless a change to the
        org's watched rows was seen while it loaded). Errors of ``load`` propagate."""
        entry = self._entries.get(org_id)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        generation = self._generation
        value = await load()
        if generation == self._generation:
            if len(self._entries) >= self._max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[org_id] = (self._clock() + self.ttl_s, value)
        return value

    def drop(self, org_id: uuid.UUID) -> None:
        """Forget the org's value; the next :meth:`get` loads it again."""
        self._entries.pop(org_id, None)
        self._generation += 1

    def clear(self) -> None:
        """Forget every value."""
        self._entries.clear()
        self._generation += 1


def _changed(cache: OrgCache[Any], session: Session) -> set[uuid.UUID]:
    orgs: set[uuid.UUID] = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, cache.watched):
            org_id = getattr(obj, getattr(obj, "__org_key__", "org_id"), None)
            if isinstance(org_id, uuid.UUID):
                orgs.add(org_id)
    return orgs


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    for cache in _caches:
        orgs = _changed(cache, session)
        if not orgs:
            continue
        for org_id in orgs:
            cache.drop(org_id)
        pending: dict[int, tuple[OrgCache[Any], set[uuid.UUID]]] = session.info.setdefault(
            _CHANGED, {}
        )
        pending.setdefault(id(cache), (cache, set()))[1].update(orgs)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_CHANGED, None)
    for cache, orgs in (pending or {}).values():
        for org_id in orgs:
            cache.drop(org_id)

"""Who a credential is, as this process last read it: API keys and users' principals.

Reading an API key, its creator's membership and space roles costs three queries on every
request. The principal they give is kept for a few seconds instead. Whatever can change it
(an API key, an org membership, a space or its members, a user) is watched at the one place
all writes pass, the ORM session: a transaction that changed any of those rows empties the
cache when it commits, so a revoked key or a removed member is refused at once in this
process. Other processes see the change once their entry is older than the TTL. A read that
began before such a commit never puts its (stale) answer back (`generation`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Delete, Update, event
from sqlalchemy.orm import Session, SessionTransaction

from agentdeck.models import ApiKey, Organization, OrgMembership, Space, SpaceMember, User

if TYPE_CHECKING:
    from sqlalchemy.orm import ORMExecuteState, UOWTransaction

TTL_S = 5.0
_MAX_ENTRIES = 10_000
_WATCHED: tuple[type[Any], ...] = (ApiKey, Organization, OrgMembership, Space, SpaceMember, User)
_TOUCHED = "agentdeck.principals_changed"
_HARMLESS = frozenset({"last_used_at", "updated_at"})
"""Columns whose change never changes a principal (an API key's last use)."""


class PrincipalCache:
    """A small bounded cache: credential key → (principal, when it was read)."""

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
        self._entries: dict[str, tuple[Any, float]] = {}
        self.generation = 0

    def get(self, key: str) -> Any | None:
        """The principal read for ``key`` less than the TTL ago, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, seen_at = entry
        if self._clock() - seen_at >= self._ttl_s:
            del self._entries[key]
            return None
        return principal

    def put(self, key: str, principal: Any, generation: int) -> None:
        """Keep ``principal`` for ``key``, unless something changed since ``generation``
        (read before the lookup began)."""
        if generation != self.generation:
            return
        self._entries.pop(key, None)
        self._entries[key] = (principal, self._clock())
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        """Forget every principal (a key, membership, space or user changed)."""
        self.generation += 1
        self._entries.clear()


# The one process-wide instance: auth reads it on every request; the session hooks below
# empty it when a transaction that changed who may do what commits.
principal_cache = PrincipalCache()


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, _WATCHED):
            session.info[_TOUCHED] = True
            return
    for obj in session.dirty:
        if isinstance(obj, _WATCHED) and session.is_modified(obj):
            from sqlalchemy import inspect

            changed = {a.key for a in inspect(obj).attrs if a.history.has_changes()}
            if changed - _HARMLESS:
                session.info[_TOUCHED] = True
                return


def _on_execute(state: ORMExecuteState) -> None:
    statement = state.statement
    if not isinstance(statement, Update | Delete):
        return
    if not any(m is not None and issubclass(m.class_, _WATCHED) for m in state.all_mappers):
        return
    if isinstance(statement, Update):
        values = {getattr(c, "key", str(c)) for c in statement._values or {}}
        if values and values <= _HARMLESS:
            return
    state.session.info[_TOUCHED] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_TOUCHED, False):
        principal_cache.clear()


def _after_rollback_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and not session.in_transaction():
        session.info.pop(_TOUCHED, None)


def install(session_class: type[Session] = Session) -> None:
    """Watch every session of this class for changes to principals (idempotent)."""
    for name, fn in (
        ("after_flush", _after_flush),
        ("do_orm_execute", _on_execute),
        ("after_commit", _after_commit),
        ("after_soft_rollback", _after_rollback_end),
    ):
        if not event.contains(session_class, name, fn):
            event.listen(session_class, name, fn)

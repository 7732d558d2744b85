"""The process's one reader of the journal for runs whose events no one delivers live.

A run's events reach this process's bus live when this process executes the run, or when a
relay carries them from the process that does. Otherwise (SQLite with several processes, a
relay that is down) the watcher covers the run: every ``bus.watch_s`` it reads, in one query
for all such runs, their status, last event `seq` and cancel flag, and tells the subscribers
what changed (`REPLAY`: re-read the journal; `STATUS_CHANGED`; `CANCEL_SIGNAL`). For runs
executed here it reads only the cancel flag (a cancel may come from another process), for
threads followed here, how many runs they have (`RUNS_CHANGED`), and for organisations
followed here (`org_key`: the approvals inbox), which of their runs wait for an answer
(`APPROVALS_CHANGED` when that set changed). One query per interval per process and kind of
key, however many clients wait; none while nobody is subscribed or everything is delivered
live.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from agentdeck.models import Run
from agentdeck.run.events.bus import (
    APPROVALS_CHANGED,
    CANCEL_SIGNAL,
    REPLAY,
    RUNS_CHANGED,
    STATUS_CHANGED,
    StreamItem,
    org_key,
    thread_key,
)
from agentdeck.run.repository import cancelling, thread_run_counts, watched_runs

if TYPE_CHECKING:
    from agentdeck.run.events.bus import Broker

log = structlog.get_logger(__name__)
_THREAD = thread_key("")
_ORG = org_key("")


class Watcher:
    """Covers the runs, threads and organisations of one bus that nothing delivers live
    (see module doc)."""

    def __init__(self, bus: Broker, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.bus = bus
        self.sessionmaker = sessionmaker
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, tuple[str, int, bool]] = {}
        self._threads: dict[str, int] = {}
        self._orgs: dict[str, frozenset[uuid.UUID]] = {}

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while self.bus.subscribed():
            await asyncio.sleep(self.bus.watch_s)
            try:
                await self.tick()
            except Exception:  # a slow or dropped database: try again next time
                log.warning("run.watch_failed", exc_info=True)

    async def tick(self) -> None:
        """Read once what the covered runs, threads and orgs look like; signal the changes."""
        remote: list[uuid.UUID] = []
        local: list[uuid.UUID] = []
        threads: list[uuid.UUID] = []
        orgs: list[uuid.UUID] = []
        keys = [k for k in self.bus.subscribed() if not self.bus.live(k)]
        for key in keys:
            if key.startswith(_THREAD):
                if (tid := _uuid(key[len(_THREAD) :])) is not None:
                    threads.append(tid)
            elif key.startswith(_ORG):
                if (oid := _uuid(key[len(_ORG) :])) is not None:
                    orgs.append(oid)
            elif (rid := _uuid(key)) is not None:
                (local if self.bus.is_local(key) else remote).append(rid)
        wanted = set(keys)
        self._seen = {k: v for k, v in self._seen.items() if k in wanted}
        self._threads = {k: v for k, v in self._threads.items() if k in wanted}
        self._orgs = {k: v for k, v in self._orgs.items() if k in wanted}
        if not (remote or local or threads or orgs):
            return
        async with self.sessionmaker() as session:
            states = await watched_runs(session, remote) if remote else {}
            cancels = await cancelling(session, local) if local else set()
            counts = await thread_run_counts(session, threads) if threads else {}
            waiting = await _waiting_runs(session, orgs) if orgs else {}
        for rid, state in states.items():
            key = str(rid)
            before = self._seen.get(key)
            self._seen[key] = state
            if before == state:
                continue
            if before is None or before[1] != state[1]:
                self.bus.deliver(StreamItem(key, REPLAY, {}))
            if before is None or before[0] != state[0]:
                self.bus.deliver(StreamItem(key, STATUS_CHANGED, {}))
            if state[2] and (before is None or not before[2]):
                self.bus.deliver(StreamItem(key, CANCEL_SIGNAL, {}))
        for rid in cancels:
            self.bus.deliver(StreamItem(str(rid), CANCEL_SIGNAL, {}))
        for tid in threads:
            key, count = thread_key(tid), counts.get(tid, 0)
            if self._threads.get(key) != count:
                self.bus.deliver(StreamItem(key, RUNS_CHANGED, {}))
            self._threads[key] = count
        for oid in orgs:  # the first look signals too: a stream's snapshot may predate it
            key, ids = org_key(oid), waiting.get(oid, frozenset())
            if self._orgs.get(key) != ids:
                self.bus.deliver(StreamItem(key, APPROVALS_CHANGED, {}))
            self._orgs[key] = ids


async def _waiting_runs(
    session: AsyncSession, org_ids: list[uuid.UUID]
) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
    """Per organisation, the ids of its runs that wait for an answer: interrupted, on a
    thread, and the thread's latest run (an answer is a newer run on the thread)."""
    newer = aliased(Run)
    stmt = (
        select(Run.org_id, Run.id)
        .where(
            Run.org_id.in_(org_ids),
            Run.status == "interrupted",
            Run.thread_id.is_not(None),
            ~exists().where(newer.thread_id == Run.thread_id, newer.id > Run.id),
        )
        .execution_options(tenant_bypass="run-watcher")
    )
    found: dict[uuid.UUID, set[uuid.UUID]] = {}
    for oid, rid in await session.execute(stmt):
        found.setdefault(oid, set()).add(rid)
    return {oid: frozenset(ids) for oid, ids in found.items()}


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None

"""The approvals inbox and its live feed.

An entry is a run that waits for a person: interrupted (a human step, a tool approval) and
still its thread's latest run. Answering it starts a new run on the thread, so the entry
goes. The feed follows the caller's organisation on the run event bus (`org_key`): the run
executor signals `APPROVALS_CHANGED` after a run is stored as interrupted, and `run.service`
after a run is created on an interrupted thread; the relay carries both between processes,
or, where there is none, the process's watcher sees the change. Each signal (however many
arrived meanwhile) is answered with one read of the caller's inbox, in the caller's scope
(so another tenant, or a space the caller cannot see, never shows), and the difference is
sent. Nothing is read on a timer, and no transaction is held while following.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.approval.repository import ApprovalRepository
from agentdeck.errors import ShuttingDown
from agentdeck.models import Run
from agentdeck.run.events.bus import SHUTDOWN, StreamItem, org_key
from agentdeck.run.services import services_for

if TYPE_CHECKING:
    from agentdeck.auth.principal import Principal
    from agentdeck.runtime import Runtime

INBOX_LIMIT = 200
"""Most entries the inbox lists (the newest)."""
_SHUTDOWN_DETAIL = "the server is shutting down; follow the approvals again"


@dataclass(frozen=True, slots=True)
class Waiting:
    """One inbox entry: the waiting run and its agent's name."""

    run: Run
    agent_name: str


@dataclass(frozen=True, slots=True)
class Change:
    """What the feed sends: the whole inbox (`snapshot`, first), or one entry that appeared
    (`added`: ``entries`` holds it) or went (`removed`: ``run_id``)."""

    kind: Literal["snapshot", "added", "removed"]
    entries: tuple[Waiting, ...] = field(default=())
    run_id: uuid.UUID | None = None


async def list_waiting(session: AsyncSession, principal: Principal) -> list[Waiting]:
    """The runs of the caller's spaces that wait for an answer, newest first."""
    rows = await ApprovalRepository(session, principal.scope).waiting(INBOX_LIMIT)
    return [Waiting(run, name) for run, name in rows]


async def follow(runtime: Runtime, principal: Principal) -> AsyncIterator[Change]:
    """The inbox now (one `snapshot`), then an `added` or `removed` change for each entry
    that appears or goes, until the caller stops reading.

    Raises ShuttingDown when this process begins to stop (follow again elsewhere).
    """
    bus = services_for(runtime.sessionmaker).broker
    key = org_key(principal.org_id)
    with bus.subscribe(key) as signals:
        if not await bus.ready(key):
            bus.watch(runtime.sessionmaker)
        shown = await _read(runtime, principal)  # subscribed first: no change is missed
        yield Change("snapshot", tuple(shown.values()))
        while True:
            _settle(await signals.get(), signals)
            now = await _read(runtime, principal)
            for run_id in [r for r in shown if r not in now]:
                yield Change("removed", run_id=run_id)
            for run_id, entry in reversed(now.items()):  # oldest first, as they happened
                if run_id not in shown:
                    yield Change("added", (entry,))
            shown = now


def _settle(item: StreamItem, signals: asyncio.Queue[StreamItem]) -> None:
    """Take ``item`` and every signal queued behind it (one read answers them all).
    Raises ShuttingDown when one of them says so."""
    while True:
        if item.type == SHUTDOWN:
            raise ShuttingDown(_SHUTDOWN_DETAIL)
        try:
            item = signals.get_nowait()
        except asyncio.QueueEmpty:
            return


async def _read(runtime: Runtime, principal: Principal) -> dict[uuid.UUID, Waiting]:
    async with runtime.sessionmaker() as session:
        return {w.run.id: w for w in await list_waiting(session, principal)}

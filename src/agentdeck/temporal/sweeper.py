"""Starting the runs whose workflow start was lost.

The API starts a run's workflow after the run's row commits (`client`); a process that dies
in between leaves a `pending` run that no workflow will ever execute. Every Temporal worker
therefore looks, every `temporal.sweep_interval_s`, for top-level runs still pending
`temporal.sweep_after_s` after their creation, and starts them. That is safe to do from many
workers at once and for runs that do have a workflow (one held back by its thread, say):
the workflow id is the run id and an id is never reused, so a second start is refused and
changes nothing. A worker remembers the runs it found started, and asks about each once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.kit.db import utcnow
from agentdeck.temporal.client import TemporalExecutor
from agentdeck.temporal.repository import lost_starts

log = structlog.get_logger(__name__)
_BATCH = 500
_REMEMBERED = 100_000


class Sweeper:
    """Starts lost runs for one worker process."""

    def __init__(
        self, executor: TemporalExecutor, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        self.executor = executor
        self.sessionmaker = sessionmaker
        self._known: set[uuid.UUID] = set()

    async def run(self) -> None:
        """Sweep until cancelled; a failed sweep is logged and tried again next time."""
        settings = self.executor.settings
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("temporal.sweep_failed")
            await asyncio.sleep(settings.sweep_interval_s)

    async def sweep(self) -> list[uuid.UUID]:
        """One pass: the runs this pass started (each a lost start, now made)."""
        cutoff = utcnow() - dt.timedelta(seconds=self.executor.settings.sweep_after_s)
        async with self.sessionmaker() as session:
            pending = await lost_starts(session, cutoff, _BATCH + len(self._known))
        if len(self._known) > _REMEMBERED:
            self._known.clear()
        started: list[uuid.UUID] = []
        for run_id in pending:
            if run_id in self._known:
                continue
            if await self.executor.start(run_id):
                started.append(run_id)
                log.warning("temporal.lost_start_recovered", run_id=str(run_id))
            self._known.add(run_id)
        return started


__all__ = ["Sweeper"]

"""The worker: claims jobs with a lease, renews it by heartbeat, runs the job's handler.

Several workers (processes or tasks) may run against one database. On stop (SIGTERM) a
worker claims nothing new, lets running jobs finish for a grace period, then cancels the
rest and releases their leases so another worker takes them over at once.

Workers claim when woken (`wake()`: in-process after a commit, or by a companion such as the
PostgreSQL LISTEN connection) and otherwise every ``poll_s``, which is what picks up jobs
whose lease expired: a job of a killed worker runs again within ``lease_s + poll_s``.

One heartbeat per worker (not per job) renews every lease it holds in one statement, so a
worker can hold thousands of runs that wait on models. Kinds with a limit (CPU-heavy ones:
ingestion, crawls) never take more than their share of the slots. When jobs wait for a slot,
organisations take turns: a claim prefers the due job whose organisation has the fewest jobs
running on this worker, so one org's thousand queued runs never delay another org's one.

Eager dispatch (what Temporal calls eager start): a process that enqueues a job while one of
its own workers has a free slot may insert the job already leased to that worker (`reserve`,
then `queue.enqueue(..., lease_owner=worker.id)`) and hand it over after the commit
(`start_eager`), skipping the wake-up and the claim transaction. The lease is as real as a
claimed one: if the process dies, the lease expires and any worker takes the job over.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.kit.db import transaction, utcnow
from agentdeck.models import Job
from agentdeck.worker import queue

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class JobContext:
    """What a handler gets: the job row and a way to open transactions."""

    job: Job
    sessionmaker: async_sessionmaker[AsyncSession]
    worker_id: str = ""
    finished: bool = False

    async def finish(self, session: AsyncSession) -> None:
        """Mark the job done in the handler's own (last) transaction, saving the worker's
        separate one; if that transaction rolls back, the worker records the outcome."""
        await queue.finish(session, self.job, self.worker_id, None)
        self.finished = True


JobHandler = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job kind enqueued once per ``every`` (deduplicated across workers)."""

    kind: str
    every: dt.timedelta


class Companion(Protocol):
    """A long-running helper of a worker (a LISTEN connection that calls `wake`, the event
    relay): started with the worker, cancelled after its shutdown; it must close its
    connections when cancelled."""

    async def run(self) -> None: ...


_COMPANION_START_S = 2.0
"""How long a starting worker waits for companions that can say they are up (`started`)."""


@dataclass
class WorkerOptions:
    concurrency: int = 4
    lease_s: float = 10.0
    poll_s: float = 1.0
    grace_s: float = 10.0
    periodic: list[Periodic] = field(default_factory=list)
    kind_limits: dict[str, int] = field(default_factory=dict)
    """Most jobs of a kind running at once on this worker (CPU-heavy kinds)."""


class Worker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        handlers: dict[str, JobHandler],
        options: WorkerOptions | None = None,
        companions: Sequence[Companion] = (),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.handlers = handlers
        self.options = options or WorkerOptions()
        self.companions = list(companions)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._running: dict[asyncio.Task[None], Job] = {}
        self._kinds: Counter[str] = Counter()
        self._orgs: Counter[uuid.UUID | None] = Counter()
        self._reserved = 0
        self._accepting = False
        self._backlog = False
        self._beat: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Poll now rather than after the poll interval (e.g. after enqueueing)."""
        self._wake.set()

    @property
    def lease_s(self) -> float:
        return self.options.lease_s

    def reserve(self) -> bool:
        """Hold a free slot for an eagerly dispatched job (True), or refuse (False: full, or
        not running, or jobs already wait for a slot: they go first). Every True must be
        followed by `start_eager` or `unreserve`."""
        if not self._accepting or self._backlog or self._full():
            return False
        self._reserved += 1
        return True

    def unreserve(self) -> None:
        """Give back a slot from `reserve` whose job was not committed."""
        self._reserved = max(0, self._reserved - 1)
        self._wake.set()

    def start_eager(self, job: Job) -> None:
        """Run a committed job already leased to this worker, in a slot from `reserve`."""
        self._reserved = max(0, self._reserved - 1)
        self._start(job)

    def _full(self) -> bool:
        return len(self._running) + self._reserved >= self.options.concurrency

    def _claimable(self) -> list[str]:
        """The kinds this worker may take now (those under their limit)."""
        limits = self.options.kind_limits
        return [k for k in self.handlers if k not in limits or self._kinds[k] < limits[k]]

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._execute(job))
        self._running[task] = job
        self._kinds[job.kind] += 1
        self._orgs[job.org_id] += 1
        task.add_done_callback(self._finished)
        if self._beat is None or self._beat.done():
            self._beat = asyncio.create_task(self._heartbeat())

    def _finished(self, task: asyncio.Task[None]) -> None:
        # Claim again only if this worker was full (or the kind at its limit): jobs that came
        # in meanwhile could not be taken. Otherwise their enqueue woke us already (or the
        # poll will see due ones), and a claim here would only compete with the next start.
        full = self._full() or self._backlog
        job = self._running.pop(task)
        limit = self.options.kind_limits.get(job.kind)
        self._kinds[job.kind] -= 1
        self._orgs[job.org_id] -= 1
        if self._orgs[job.org_id] <= 0:
            del self._orgs[job.org_id]
        if full or (limit is not None and self._kinds[job.kind] + 1 >= limit):
            self._wake.set()

    async def _schedule_periodic(self) -> None:
        now = utcnow()
        async with transaction(self.sessionmaker) as session:
            for p in self.options.periodic:
                bucket = int(now.timestamp() // p.every.total_seconds())
                await queue.enqueue(session, p.kind, dedupe_key=f"{p.kind}:{bucket}")

    async def _heartbeat(self) -> None:
        """Renew the leases of every job this worker holds, one statement per beat, until it
        holds none."""
        interval = self.options.lease_s / 3
        lost: set[uuid.UUID] = set()
        while self._running:
            await asyncio.sleep(interval)
            held = {job.id: job for job in self._running.values()}
            if not held:
                return
            try:
                async with transaction(self.sessionmaker) as session:
                    alive = await queue.heartbeat_many(
                        session, list(held), self.id, self.options.lease_s
                    )
            except Exception:  # a slow or dropped database: try again at the next beat
                log.warning("worker.heartbeat_failed", jobs=len(held), exc_info=True)
                continue
            running = {job.id for job in self._running.values()}
            for job_id in (held.keys() & running) - alive - lost:  # not: finished meanwhile
                lost.add(job_id)
                log.warning("worker.lease_lost", job_id=str(job_id), kind=held[job_id].kind)

    async def _execute(self, job: Job) -> None:
        error: str | None = None
        ctx = JobContext(job=job, sessionmaker=self.sessionmaker, worker_id=self.id)
        try:
            await self.handlers[job.kind](ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            log.exception("worker.job_failed", job_id=str(job.id), kind=job.kind)
        if error is not None or not ctx.finished:  # else the handler's commit finished it
            async with transaction(self.sessionmaker) as session:
                await queue.finish(session, job, self.id, error)
        # a job that went well is worth a line only when debugging: runs log `run.finished`
        (log.info if error is not None else log.debug)(
            "worker.job_finished", job_id=str(job.id), kind=job.kind, ok=error is None
        )

    async def run_once(self) -> bool:
        """Claim and start one job if a slot is free. True when a job was started."""
        if self._full():
            self._backlog = True  # whatever is due waits: new jobs must not jump it
            return False
        kinds = self._claimable()
        if not kinds:
            return False
        async with transaction(self.sessionmaker) as session:
            job = await queue.claim(
                session, self.id, kinds, self.options.lease_s, busy_orgs=dict(self._orgs)
            )
        if job is None:
            self._backlog = False
            return False
        self._start(job)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then shut down gracefully."""
        log.info("worker.started", worker_id=self.id, kinds=sorted(self.handlers))
        next_periodic = 0.0
        loop = asyncio.get_running_loop()
        helpers = [asyncio.create_task(c.run()) for c in self.companions]
        try:
            await self._companions_started()
            self._accepting = True
            while not stop.is_set():
                if self.options.periodic and loop.time() >= next_periodic:
                    await self._schedule_periodic()
                    next_periodic = loop.time() + 60
                # Clear before claiming: a wake-up that arrives while we claim is kept.
                self._wake.clear()
                try:
                    while await self.run_once():
                        pass
                except Exception:
                    log.exception("worker.claim_failed")
                waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
                await asyncio.wait(
                    waiters, timeout=self.options.poll_s, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters:
                    waiter.cancel()
        finally:
            self._accepting = False
            try:
                await self._shutdown()
            finally:
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)

    async def _companions_started(self) -> None:
        """Wait, bounded, for companions that can tell when they are up (the event relay:
        a run started before it connects would lose its live token deltas)."""
        waits = [
            started(_COMPANION_START_S)
            for c in self.companions
            if (started := getattr(c, "started", None)) is not None
        ]
        if waits:
            await asyncio.gather(*waits)

    async def _shutdown(self) -> None:
        if self._running:
            _, pending = await asyncio.wait(list(self._running), timeout=self.options.grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        async with transaction(self.sessionmaker) as session:
            await queue.release(session, self.id)
        log.info("worker.stopped", worker_id=self.id)

"""The job queue: enqueue inside the caller's transaction, claim atomically with a lease.

On PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED``; on SQLite one ``UPDATE ...
RETURNING`` under ``BEGIN IMMEDIATE`` is atomic across processes.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.db import utcnow
from agentdeck.kit.statements import built, row_params, table_of, update_row
from agentdeck.models import Job


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    org_id: uuid.UUID | None = None,
    run_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
    lease_owner: str | None = None,
    lease_s: float = 0.0,
) -> Job | None:
    """Add a job in the caller's transaction (so it exists only if the work commits).

    With ``dedupe_key`` a second job with the same key is silently not added (None is
    returned). With ``lease_owner`` the job is inserted already claimed by that worker for
    ``lease_s`` seconds (eager dispatch: see `worker.loop`). Returns the job as inserted,
    detached from the session.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "kind": kind,
        "org_id": org_id,
        "payload": payload or {},
        "status": "queued",
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
    }
    if lease_owner is not None:
        values.update(
            status="running",
            lease_owner=lease_owner,
            lease_expires_at=now + dt.timedelta(seconds=lease_s),
            attempts=1,
        )
    else:
        values.update(lease_owner=None, lease_expires_at=None)
    stmt = built(("enqueue", session.get_bind().dialect.name), lambda: _insert_job(session))
    params = {f"p_{name}": value for name, value in values.items()}
    if (await session.execute(stmt, params)).first() is None:
        return None
    return Job(**values)


def _insert_job(session: AsyncSession) -> Any:
    """``INSERT INTO jobs ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`` with every
    column `enqueue` sets as a parameter (built once per dialect: `kit.statements`)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = table_of(Job)
    names = ("id", "kind", "org_id", "payload", "status", "run_at", "attempts",
             "max_attempts", "dedupe_key", "created_at", "updated_at", "lease_owner",
             "lease_expires_at")  # fmt: skip
    columns = {table.c[n]: bindparam(f"p_{n}", type_=table.c[n].type) for n in names}
    return (
        insert(table)
        .values(columns)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(table.c.id)
    )


async def claim(
    session: AsyncSession,
    worker_id: str,
    kinds: list[str],
    lease_s: float,
    *,
    busy_orgs: dict[uuid.UUID | None, int] | None = None,
) -> Job | None:
    """Take a due job (or one whose lease expired) and lease it to ``worker_id``.

    Oldest first, except that with ``busy_orgs`` (how many jobs each organisation has
    running on this worker) the organisations with the fewest running go first: when jobs
    wait for slots, organisations take turns instead of one org's backlog going first.
    """
    now = utcnow()
    due = or_(
        and_(Job.status == "queued", Job.run_at <= now),
        and_(Job.status == "running", Job.lease_expires_at < now),
    )
    candidate = select(Job.id).where(due, Job.kind.in_(kinds))
    turns = {org: n for org, n in (busy_orgs or {}).items() if org is not None and n > 0}
    if turns:
        running = case(
            *((Job.org_id == org, n) for org, n in sorted(turns.items(), key=lambda t: t[1])),
            else_=0,
        )
        candidate = candidate.order_by(running, Job.run_at)
    else:
        candidate = candidate.order_by(Job.run_at)
    candidate = candidate.limit(1)
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    stmt = (
        update(Job)
        .where(Job.id == candidate.scalar_subquery())
        .values(
            status="running",
            lease_owner=worker_id,
            lease_expires_at=now + dt.timedelta(seconds=lease_s),
            attempts=Job.attempts + 1,
            updated_at=now,
        )
        .returning(Job)
    )
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


async def held(session: AsyncSession, kind: str, key: str, value: str) -> bool:
    """True when a job of ``kind`` whose payload has ``key`` = ``value`` is running under a
    live (unexpired) lease: some worker holds it now."""
    stmt = (
        select(Job.id)
        .where(
            Job.kind == kind,
            Job.status == "running",
            Job.lease_expires_at >= utcnow(),
            Job.payload[key].as_string() == value,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def heartbeat(
    session: AsyncSession, job_id: uuid.UUID, worker_id: str, lease_s: float
) -> bool:
    """Extend the lease; False when the job is no longer ours (lease lost)."""
    return job_id in await heartbeat_many(session, [job_id], worker_id, lease_s)


_BEAT_BATCH = 500


async def heartbeat_many(
    session: AsyncSession, job_ids: list[uuid.UUID], worker_id: str, lease_s: float
) -> set[uuid.UUID]:
    """Extend the leases of ``job_ids`` (one statement per 500); the ids still ours."""
    alive: set[uuid.UUID] = set()
    until = utcnow() + dt.timedelta(seconds=lease_s)
    for start in range(0, len(job_ids), _BEAT_BATCH):
        batch = job_ids[start : start + _BEAT_BATCH]
        result = await session.execute(
            update(Job)
            .where(Job.id.in_(batch), Job.lease_owner == worker_id, Job.status == "running")
            .values(lease_expires_at=until)
            .returning(Job.id)
        )
        alive.update(result.scalars())
    return alive


async def finish(session: AsyncSession, job: Job, worker_id: str, error: str | None) -> None:
    """Mark a job done, or failed: retried with exponential backoff until max_attempts."""
    now = utcnow()
    values: dict[str, Any]
    if error is None:
        values = {"status": "done", "finished_at": now, "lease_owner": None, "last_error": None}
    elif job.attempts >= job.max_attempts:
        values = {"status": "failed", "finished_at": now, "lease_owner": None, "last_error": error}
    else:
        delay = min(2**job.attempts, 300) * (0.5 + random.random())  # noqa: S311 - jitter
        values = {
            "status": "queued",
            "run_at": now + dt.timedelta(seconds=delay),
            "lease_owner": None,
            "last_error": error,
        }
    stmt = update_row(Job, tuple(values), ("lease_owner",))  # built once per shape
    await session.execute(stmt, row_params(job.id, values, lease_owner=worker_id))


async def release(session: AsyncSession, worker_id: str) -> None:
    """Give back every job this worker holds (on shutdown), so others take them at once."""
    await session.execute(
        update(Job)
        .where(Job.lease_owner == worker_id, Job.status == "running")
        .values(
            status="queued",
            lease_owner=None,
            lease_expires_at=None,
            run_at=utcnow(),
            attempts=Job.attempts - 1,
        )
    )


async def prune(session: AsyncSession, older_than: dt.datetime) -> None:
    """Delete finished jobs older than ``older_than``."""
    await session.execute(
        delete(Job).where(Job.status.in_(["done", "failed"]), Job.finished_at < older_than)
    )


async def requeue(session: AsyncSession, job: Job, delay_s: float) -> None:
    """Hand a claimed job back without counting an attempt (e.g. a concurrency limit).

    The lease is dropped, so the worker's later ``finish`` for this claim changes nothing.
    """
    await session.execute(
        update(Job)
        .where(Job.id == job.id, Job.lease_owner == job.lease_owner)
        .values(
            status="queued",
            lease_owner=None,
            lease_expires_at=None,
            run_at=utcnow() + dt.timedelta(seconds=delay_s),
            attempts=Job.attempts - 1,
        )
    )


async def make_due(session: AsyncSession, dedupe_keys: list[str]) -> int:
    """Make the queued jobs with these keys due now (work they waited for has ended)."""
    if not dedupe_keys:
        return 0
    result = await session.execute(
        update(Job)
        .where(Job.dedupe_key.in_(dedupe_keys), Job.status == "queued")
        .values(run_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)

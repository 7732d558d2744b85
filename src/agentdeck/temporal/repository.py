"""The Temporal engine's own queries: payloads stored outside histories, and the runs whose
workflow start was lost. Workers only: no tenant scope (they read by digest and by run id)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.db import utcnow
from agentdeck.models import Run, TemporalPayload

_BYPASS = {"tenant_bypass": "temporal-worker"}


async def store_payloads(
    session: AsyncSession, blobs: Sequence[tuple[str, bytes]], workflow_id: str | None
) -> None:
    """Insert ``(digest, data)`` blobs; a digest stored before is kept as it is."""
    if not blobs:
        return
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "digest": digest,
            "workflow_id": workflow_id,
            "size": len(data),
            "data": data,
            "created_at": now,
            "updated_at": now,
        }
        for digest, data in dict(blobs).items()
    ]
    make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = make(TemporalPayload).values(rows).on_conflict_do_nothing(index_elements=["digest"])
    await session.execute(stmt.execution_options(**_BYPASS))


async def load_payloads(session: AsyncSession, digests: Sequence[str]) -> dict[str, bytes]:
    """The stored blobs of ``digests`` (missing ones are absent)."""
    stmt = select(TemporalPayload.digest, TemporalPayload.data).where(
        TemporalPayload.digest.in_(set(digests))
    )
    rows = (await session.execute(stmt.execution_options(**_BYPASS))).all()
    return {digest: data for digest, data in rows}


async def lost_starts(
    session: AsyncSession, created_before: dt.datetime, limit: int
) -> list[uuid.UUID]:
    """Pending top-level runs created before ``created_before``, oldest first. Child runs
    are left out: their parent's workflow starts them durably."""
    stmt = (
        select(Run.id)
        .where(
            Run.status == "pending",
            Run.parent_run_id.is_(None),
            Run.created_at < created_before,
        )
        .order_by(Run.created_at)
        .limit(limit)
        .execution_options(**_BYPASS)
    )
    return list((await session.execute(stmt)).scalars().all())


__all__ = ["load_payloads", "lost_starts", "store_payloads"]

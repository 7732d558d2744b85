"""Response cache rows."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Executable, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.db import utcnow
from agentdeck.kit.ids import uuid7
from agentdeck.kit.tenancy import UNSCOPED_REASON
from agentdeck.models import LLMCacheEntry

# The gateway hands the cache only a key; the key begins with the org id, which is what keeps
# entries apart, so these statements are tenant-safe without a scope.
_BYPASS = {UNSCOPED_REASON: "llm cache (org id is part of the key)"}


async def get_value(
    session: AsyncSession, org_id: uuid.UUID, key: str, now: dt.datetime
) -> str | None:
    stmt = select(LLMCacheEntry.value).where(
        LLMCacheEntry.org_id == org_id, LLMCacheEntry.key == key, LLMCacheEntry.expires_at > now
    )
    return (await session.execute(stmt.execution_options(**_BYPASS))).scalar_one_or_none()


def written_since(at: dt.datetime) -> uuid.UUID:
    """The smallest entry id written at or after ``at`` (ids are UUIDv7, made at each
    write, so they sort by the time of the write)."""
    return uuid.UUID(int=(int(at.timestamp() * 1000) & ((1 << 48) - 1)) << 80)


async def live_keys(
    session: AsyncSession, now: dt.datetime, *, since: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, str, dt.datetime]]:
    """``(org_id, key, expires_at)`` of the live entries of every org (the index of the
    cache's keys), those written after the id ``since`` when given; at most ``limit``."""
    stmt = select(LLMCacheEntry.org_id, LLMCacheEntry.key, LLMCacheEntry.expires_at).where(
        LLMCacheEntry.expires_at > now
    )
    if since is not None:
        stmt = stmt.where(LLMCacheEntry.id > since)
    rows = await session.execute(stmt.limit(limit).execution_options(**_BYPASS))
    return [(org_id, key, expires) for org_id, key, expires in rows.all()]


async def put_values(
    session: AsyncSession, rows: list[tuple[uuid.UUID, str, str, dt.datetime]]
) -> None:
    """Upsert each ``(org_id, key, value, expires_at)``; the last of a repeated key wins.
    Each write gives the entry a new id (UUIDv7), so :func:`live_keys` finds it."""
    now = utcnow()
    latest = {(org_id, key): (value, expires) for org_id, key, value, expires in rows}
    values = [
        {
            "id": uuid7(),
            "org_id": org_id,
            "key": key,
            "value": value,
            "expires_at": expires,
            "created_at": now,
            "updated_at": now,
        }
        for (org_id, key), (value, expires) in latest.items()
    ]
    dialect = session.get_bind().dialect.name
    await session.execute(_upsert(dialect), values)


_UPSERTS: dict[str, Executable] = {}


def _upsert(dialect: str) -> Executable:
    """The upsert statement of a dialect, built once: building ``excluded`` and its
    columns cost more than the batch's parameters."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        base = insert(LLMCacheEntry)
        stmt = _UPSERTS[dialect] = base.on_conflict_do_update(
            index_elements=["org_id", "key"],
            set_={
                "id": base.excluded.id,
                "value": base.excluded.value,
                "expires_at": base.excluded.expires_at,
                "updated_at": base.excluded.updated_at,
            },
        ).execution_options(**_BYPASS)
    return stmt


async def purge_expired(session: AsyncSession, now: dt.datetime) -> None:
    await session.execute(
        delete(LLMCacheEntry).where(LLMCacheEntry.expires_at <= now).execution_options(**_BYPASS)
    )

"""Response cache rows."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.db import utcnow
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


async def put_values(
    session: AsyncSession, rows: list[tuple[uuid.UUID, str, str, dt.datetime]]
) -> None:
    """Upsert each ``(org_id, key, value, expires_at)``; the last of a repeated key wins."""
    now = utcnow()
    latest = {(org_id, key): (value, expires) for org_id, key, value, expires in rows}
    values = [
        {
            "id": uuid.uuid4(),
            "org_id": org_id,
            "key": key,
            "value": value,
            "expires_at": expires,
            "created_at": now,
            "updated_at": now,
        }
        for (org_id, key), (value, expires) in latest.items()
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(LLMCacheEntry)
    stmt = stmt.on_conflict_do_update(
        index_elements=["org_id", "key"],
        set_={
            "value": stmt.excluded.value,
            "expires_at": stmt.excluded.expires_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt.execution_options(**_BYPASS), values)


async def purge_expired(session: AsyncSession, now: dt.datetime) -> None:
    await session.execute(
        delete(LLMCacheEntry).where(LLMCacheEntry.expires_at <= now).execution_options(**_BYPASS)
    )

"""Background upkeep of the response cache."""

from __future__ import annotations

from agentdeck.gateway import repository
from agentdeck.kit.db import transaction, utcnow
from agentdeck.worker.loop import JobContext

PURGE_CACHE = "llm.cache_purge"


async def purge_cache(ctx: JobContext) -> None:
    """Delete expired response-cache entries."""
    async with transaction(ctx.sessionmaker) as session:
        await repository.purge_expired(session, utcnow())

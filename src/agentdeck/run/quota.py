"""Per-organisation run quotas: runs in flight, and runs created per minute.

Both are optional. Operators set a ceiling for every org (``AGENTDECK_RUNS__QUOTA_RUNS_IN_FLIGHT``,
``AGENTDECK_RUNS__QUOTA_RUNS_PER_MINUTE``; 0: none) and an org's owners or admins may set a
lower one on the org (``PATCH /orgs/{id}`` with ``max_runs_in_flight`` /
``max_runs_per_minute``). Creating a run past a bound answers 429 with ``Retry-After``, at
once, instead of queueing the run behind the limit. Sub-agent runs of a running parent are
not refused (the parent was admitted; refusing its children would fail it half-way).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.errors import TooManyRequests
from agentdeck.kit.db import utcnow
from agentdeck.kit.org_cache import OrgCache
from agentdeck.models import Organization
from agentdeck.run.repository import org_quotas, runs_created_since, runs_in_flight
from agentdeck.run.settings import RunSettings

_WINDOW = dt.timedelta(minutes=1)
_own: OrgCache[tuple[int | None, int | None]] = OrgCache(Organization, ttl_s=5.0)


def _bound(operator: int, own: int | None) -> int:
    """The tighter of two limits (0 or None: no limit)."""
    limits = [n for n in (operator, own or 0) if n > 0]
    return min(limits) if limits else 0


async def admit(session: AsyncSession, org_id: uuid.UUID, settings: RunSettings) -> None:
    """Refuse a new run of the org when a quota is reached. Raises TooManyRequests (429,
    ``Retry-After``)."""
    own = await _own.get(org_id, lambda: org_quotas(session, org_id))
    in_flight = _bound(settings.quota_runs_in_flight, own[0])
    per_minute = _bound(settings.quota_runs_per_minute, own[1])
    if not (in_flight or per_minute):
        return
    if session.get_bind().dialect.name == "postgresql":  # one admission at a time per org
        lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
        await session.execute(lock, {"key": f"runs:{org_id}"})
    if in_flight and await runs_in_flight(session, org_id) >= in_flight:
        raise TooManyRequests(
            f"the organisation has {in_flight} runs in flight, its limit; try again when "
            "one has finished",
            retry_after=1,
        )
    if per_minute:
        now = utcnow()
        count, oldest = await runs_created_since(session, org_id, now - _WINDOW)
        if count >= per_minute:
            wait = (oldest + _WINDOW - now).total_seconds() if oldest else 1.0
            raise TooManyRequests(
                f"the organisation created {per_minute} runs in the last minute, its limit",
                retry_after=max(1, math.ceil(wait)),
            )

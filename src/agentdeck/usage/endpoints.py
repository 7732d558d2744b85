"""/api/v1/usage: what the gateway calls cost, summed or one by one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Query

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Reader
from agentdeck.gateway.service import flush_usage
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.usage import service
from agentdeck.usage.schemas import GroupBy, UsageRecordOut, UsageRecordPage, UsageSummary


async def _written(runtime: RuntimeDep) -> None:
    # The gateway writes usage rows after its calls, in batches: this process's are
    # written before they are read (another process's within its flush interval).
    await flush_usage(runtime)


router = new_router("/usage", tags=["usage"], dependencies=[Depends(_written)])

_FROM = Query(
    alias="from",
    description="Start (inclusive): a date or datetime; naive values are UTC. "
    "Default: the start of the current calendar month (UTC).",
)
_TO = Query(
    alias="to",
    description="End (exclusive): a date or datetime; naive values are UTC. "
    "Default: the start of the next calendar month (UTC).",
)

_SINCE = Query(alias="from", description="Only calls at or after this instant (naive = UTC).")
_UNTIL = Query(alias="to", description="Only calls before this instant (naive = UTC).")


@router.get("", response_model=UsageSummary, response_model_exclude_unset=True)
async def usage_summary(
    principal: Reader,
    session: SessionDep,
    group_by: Annotated[GroupBy, Query()] = "model",
    since: Annotated[dt.datetime | None, _FROM] = None,
    until: Annotated[dt.datetime | None, _TO] = None,
) -> UsageSummary:
    """Calls, errors, cache hits, tokens, cost and mean latency per model, day, space or
    agent. Org owners and admins see the whole organisation; members see their own calls."""
    return await service.summary(session, principal.scope, group_by, since=since, until=until)


@router.get("/records", response_model=UsageRecordPage)
async def list_usage_records(
    principal: Reader,
    session: SessionDep,
    since: Annotated[dt.datetime | None, _SINCE] = None,
    until: Annotated[dt.datetime | None, _UNTIL] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> UsageRecordPage:
    """Single calls, newest first, with their status and every attempt (failed ones too)."""
    page = await service.list_records(
        session, principal.scope, since=since, until=until, limit=limit, cursor=cursor
    )
    return UsageRecordPage(
        items=[UsageRecordOut.model_validate(r) for r in page.items],
        next_cursor=page.next_cursor,
    )

"""GET /api/v1/audit-logs.

Entries carry no space, so a key limited to some spaces is refused (403) rather than
shown entries about spaces it cannot see.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import Query

from agentdeck.api import SessionDep, new_router
from agentdeck.audit import service
from agentdeck.audit.schemas import AuditEntryOut, AuditPage
from agentdeck.auth.principal import OrgAdmin
from agentdeck.kit.pagination import MAX_LIMIT

router = new_router("/audit-logs", tags=["audit"])


@router.get("", response_model=AuditPage)
async def list_audit_logs(
    principal: OrgAdmin,
    session: SessionDep,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=100, description="exact, or prefix*")] = None,
    since: Annotated[dt.datetime | None, Query(alias="from")] = None,
    until: Annotated[dt.datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    """The organisation's audit log, newest first (org owners and admins only)."""
    page = await service.list_entries(
        session,
        principal.scope,
        actor_id=actor_id,
        action=action,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return AuditPage(
        items=[AuditEntryOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor
    )

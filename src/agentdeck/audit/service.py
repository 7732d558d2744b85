"""Audit entries are written in the same transaction as the change they describe."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.audit.repository import AuditRepository
from agentdeck.errors import InvalidInput
from agentdeck.kit.authz import require_org_role
from agentdeck.kit.context import request_meta
from agentdeck.kit.db import as_utc, utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import OrgRole, TenantScope
from agentdeck.models import AuditLog

_SECRET_FIELD = re.compile(r"pass(word)?|secret|token|api[_-]?key|hash|credential", re.I)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a user, or an API key acting for the user who created it."""

    type: Literal["user", "api_key", "system"]
    id: uuid.UUID | None
    user_id: uuid.UUID | None


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            str(k): "[redacted]" if _SECRET_FIELD.search(str(k)) else _clean(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if isinstance(value, uuid.UUID | dt.datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return value


def record(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str | None,
    changes: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit entry to the session (committed with the change). Secrets are dropped."""
    meta = request_meta.get()
    entry = AuditLog(
        org_id=org_id,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_user_id=actor.user_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        changes=_clean(changes) if changes else None,
        ip=meta.ip,
        user_agent=(meta.user_agent or "")[:500] or None,
    )
    session.add(entry)
    return entry


async def list_entries(
    session: AsyncSession,
    scope: TenantScope,
    *,
    actor_id: uuid.UUID | None,
    action: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    cursor: str | None,
) -> Page[AuditLog]:
    """The org's audit log, newest first. Only org owners and admins may read it."""
    require_org_role(
        scope, OrgRole.ADMIN, "only organisation owners and admins can read the audit log"
    )
    return await AuditRepository(session, scope).list(
        actor_id=actor_id,
        action=action,
        since=as_utc(since) if since else None,
        until=as_utc(until) if until else None,
        limit=limit,
        cursor=cursor,
    )


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``{field: {"from": old, "to": new}}`` for the fields that differ."""
    return {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v}


def apply_and_record(
    session: AsyncSession,
    row: Any,
    fields: dict[str, Any],
    *,
    org_id: uuid.UUID,
    actor: Actor,
    action: str,
    target_type: str,
) -> dict[str, Any]:
    """Set ``fields`` on ``row`` and, when anything changed, audit it; returns the changes.

    A ``None`` for a non-nullable ``name`` is refused with :class:`InvalidInput`.
    """
    if "name" in fields and fields["name"] is None:
        raise InvalidInput("name cannot be null", field="name")
    before = {k: getattr(row, k) for k in fields}
    for key, value in fields.items():
        setattr(row, key, value)
    changes = changed_fields(before, fields)
    if changes:
        row.updated_at = utcnow()
        record(
            session,
            org_id=org_id,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=row.id,
            changes=changes,
        )
    return changes


__all__: Sequence[str] = [
    "Actor",
    "apply_and_record",
    "changed_fields",
    "list_entries",
    "record",
]

"""API key rules: a key never grants more than the one who made it holds."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.apikey.repository import ApiKeyRepository
from agentdeck.apikey.schemas import ApiKeyCreate
from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.auth.tokens import new_api_key
from agentdeck.errors import InvalidInput, NotFound
from agentdeck.kit.db import as_utc, utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import OrgRole, key_scopes_grant, org_role_at_least
from agentdeck.models import ApiKey


def _is_admin(principal: Principal) -> bool:
    return org_role_at_least(principal.scope.org_role, OrgRole.ADMIN)


async def create(
    session: AsyncSession, principal: Principal, body: ApiKeyCreate
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the full key (shown once, stored only as a hash).

    Raises :class:`InvalidInput` for a past expiry or scopes beyond the calling key's, and
    :class:`NotFound` for a space the caller cannot see.
    """
    expires_at = as_utc(body.expires_at) if body.expires_at else None
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    caller_scopes = principal.scope.key_scopes
    if caller_scopes is not None:
        for scope in body.scopes:
            if not key_scopes_grant(caller_scopes, scope):
                raise InvalidInput(
                    f"cannot grant '{scope.value}', which this key lacks", field="scopes"
                )
    space_ids = None
    if body.space_ids is not None:
        for sid in body.space_ids:
            if not principal.scope.can_see_space(sid):
                raise NotFound(f"space {sid} not found", field="space_ids")
        space_ids = sorted({str(s) for s in body.space_ids})
    elif principal.space_limited:
        # A key limited to some spaces can only make keys limited to those spaces (the
        # endpoints refuse such keys; this holds for any other caller of the service).
        space_ids = sorted(str(s) for s in principal.scope.space_ids)
    key, prefix, key_hash = new_api_key()
    row = ApiKey(
        org_id=principal.org_id,
        name=body.name,
        prefix=prefix,
        key_hash=key_hash,
        scopes=sorted({s.value for s in body.scopes}),
        space_ids=space_ids,
        created_by=principal.user_id,
        expires_at=expires_at,
    )
    ApiKeyRepository(session, principal.scope).add(row)
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="api_key.created",
        target_type="api_key",
        target_id=row.id,
        changes={
            "name": body.name,
            "scopes": row.scopes,
            "space_ids": space_ids,
            "expires_at": expires_at,
        },
    )
    return row, key


async def list_keys(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[ApiKey]:
    """Org admins see every key of the org; members see their own."""
    return await ApiKeyRepository(session, principal.scope).list(
        only_mine=not _is_admin(principal), limit=limit, cursor=cursor
    )


async def get(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    """One key the caller may see. Raises :class:`NotFound`."""
    row = await ApiKeyRepository(session, principal.scope).get(key_id)
    if row is None or (not _is_admin(principal) and row.created_by != principal.user_id):
        raise NotFound("API key not found")
    return row


async def revoke(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    """Revoke a key (its creator or an org admin). Revoking twice is a no-op."""
    row = await get(session, principal, key_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            org_id=principal.org_id,
            actor=principal.actor,
            action="api_key.revoked",
            target_type="api_key",
            target_id=row.id,
            changes={"name": row.name},
        )

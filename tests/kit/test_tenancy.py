"""The tenant proof can only be minted by auth, and the ORM guard demands it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from agentdeck.kit.tenancy import (
    KeyScope,
    OrgRole,
    TenantGuardError,
    TenantScope,
    claim_mint_key,
    key_scopes_grant,
)
from agentdeck.models import ApiKey, AuditLog, Organization, Space, User


@pytest.mark.parametrize("model", [Space, ApiKey, AuditLog])
async def test_unscoped_queries_on_tenant_tables_are_refused(app: Any, model: Any) -> None:
    async with app.state.runtime.sessionmaker() as session:
        with pytest.raises(TenantGuardError):
            await session.execute(select(model))
        with pytest.raises(TenantGuardError):
            await session.execute(select(model.id).where(model.org_id == uuid.uuid4()))
        with pytest.raises(TenantGuardError):
            await session.get(model, uuid.uuid4())


async def test_unscoped_writes_on_tenant_tables_are_refused(app: Any) -> None:
    async with app.state.runtime.sessionmaker() as session:
        with pytest.raises(TenantGuardError):
            await session.execute(update(ApiKey).values(name="x"))
        with pytest.raises(TenantGuardError):
            await session.execute(delete(Space))
        await session.rollback()


async def test_global_tables_and_explicit_bypass_are_allowed(app: Any) -> None:
    async with app.state.runtime.sessionmaker() as session:
        await session.execute(select(User).limit(1))
        await session.execute(select(Organization).limit(1))
        bypass = select(Space).limit(1).execution_options(tenant_bypass="test")
        await session.execute(bypass)


def test_a_scope_cannot_be_constructed_outside_auth() -> None:
    import agentdeck.auth.principal  # noqa: F401 - auth has claimed the mint key

    with pytest.raises(TenantGuardError):
        TenantScope(org_id=uuid.uuid4(), org_role=OrgRole.OWNER, space_roles={}, user_id=None)
    with pytest.raises(TenantGuardError):
        TenantScope(
            org_id=uuid.uuid4(),
            org_role=OrgRole.OWNER,
            space_roles={},
            user_id=None,
            _mint=object(),
        )
    with pytest.raises(RuntimeError, match="already claimed"):
        claim_mint_key()


def test_key_scopes_grant_themselves_and_below() -> None:
    assert key_scopes_grant(frozenset({KeyScope.WRITE}), KeyScope.READ)
    assert key_scopes_grant(frozenset({KeyScope.WRITE}), KeyScope.WRITE)
    assert not key_scopes_grant(frozenset({KeyScope.WRITE}), KeyScope.ADMIN)
    assert not key_scopes_grant(frozenset(), KeyScope.READ)

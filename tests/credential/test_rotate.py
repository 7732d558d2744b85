"""`agentdeck admin rotate-key` re-encrypts credentials: the service function it calls."""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from agentdeck.auth.principal import scope_for_background_work
from agentdeck.config import resolve_secrets
from agentdeck.credential.service import CredentialUnreadable, auth_headers, rotate_master_key
from agentdeck.kit.crypto import Cipher
from agentdeck.kit.db import transaction
from agentdeck.models import Credential
from agentdeck.runtime import Runtime
from tests.credential.support import create_credential
from tests.factories import create_tenant, personal_space_id

SECRET = "rotate-s3cr3t-" + uuid.uuid4().hex


async def _key_ids(runtime: Runtime, ids: list[uuid.UUID]) -> set[str]:
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(Credential.secret_enc)
            .where(Credential.id.in_(ids))
            .execution_options(tenant_bypass="test")
        )
        return {Cipher.key_id_of(enc) for enc in rows.scalars()}


async def test_rotate_master_key_re_encrypts_every_credential(
    client: httpx.AsyncClient, app: Any
) -> None:
    runtime: Runtime = app.state.runtime
    tenant = await create_tenant(client)
    made = [
        await create_credential(client, tenant.headers, kind="bearer", token=f"{SECRET}-b"),
        await create_credential(
            client, tenant.headers, kind="basic", username="ada", password=f"{SECRET}-p"
        ),
    ]
    ids = [uuid.UUID(r.json()["id"]) for r in made]
    space = await personal_space_id(client, tenant)
    scope = scope_for_background_work(
        org_id=uuid.UUID(tenant.org_id),
        space_id=uuid.UUID(space),
        user_id=uuid.UUID(tenant.user_id),
    )
    old_key, new_key = resolve_secrets(runtime.settings)[1], os.urandom(32)
    rotated = Cipher(new_key, [old_key])
    try:
        async with transaction(runtime.sessionmaker) as session:
            assert await rotate_master_key(session, rotated) >= 2
        assert await _key_ids(runtime, ids) == {rotated.primary_key_id}
        headers = await auth_headers(
            runtime.sessionmaker, rotated, scope, ids[0], http=runtime.http()
        )
        assert headers == {"Authorization": f"Bearer {SECRET}-b"}
        # Only the new key opens them now (the old one is dropped after the rotation).
        with pytest.raises(CredentialUnreadable):
            await auth_headers(
                runtime.sessionmaker, Cipher(old_key), scope, ids[0], http=runtime.http()
            )
        async with transaction(runtime.sessionmaker) as session:
            assert await rotate_master_key(session, rotated) == 0  # nothing left to move
    finally:  # the rest of the session's tests use the original key
        async with transaction(runtime.sessionmaker) as session:
            await rotate_master_key(session, Cipher(old_key, [new_key]))
    assert await _key_ids(runtime, ids) == {runtime.cipher.primary_key_id}
    shown = await client.get(f"/api/v1/credentials/{ids[1]}", headers=tenant.headers)
    assert shown.status_code == 200 and SECRET not in shown.text

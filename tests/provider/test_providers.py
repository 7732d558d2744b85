from __future__ import annotations

import json
import os
import uuid

import httpx
import httpx2
import pytest
from sqlalchemy import select

from agentdeck.kit.crypto import Cipher
from agentdeck.kit.db import transaction
from agentdeck.models import Provider
from agentdeck.provider.service import rotate_master_key
from agentdeck.runtime import Runtime
from tests.factories import create_api_key, create_tenant

SECRET = "sk-test-" + "x" * 24 + "9876"


@pytest.fixture
def runtime(app: object) -> Runtime:
    rt: Runtime = app.state.runtime  # type: ignore[attr-defined]
    return rt


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], **over: object
) -> httpx.Response:
    payload = {
        "name": f"p{uuid.uuid4().hex[:6]}",
        "kind": "openai",
        "api_key": SECRET,
        "base_url": "http://llm.test/v1",
        "models": ["gpt-4o-mini"],
        **over,
    }
    return await client.post("/api/v1/providers", json=payload, headers=headers)


async def test_crud_masks_and_encrypts_the_key(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    resp = await _create(client, tenant.headers)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert SECRET not in resp.text
    assert body["has_api_key"] is True and body["api_key_hint"] == "sk-…9876"
    pid = body["id"]
    for r in (
        await client.get("/api/v1/providers", headers=tenant.headers),
        await client.get(f"/api/v1/providers/{pid}", headers=tenant.headers),
    ):
        assert r.status_code == 200 and SECRET not in r.text
    async with runtime.sessionmaker() as session:
        row = (
            await session.execute(
                select(Provider)
                .where(Provider.id == uuid.UUID(pid))
                .execution_options(tenant_bypass="test")
            )
        ).scalar_one()
    assert row.api_key_enc and SECRET not in row.api_key_enc
    assert row.api_key_enc.split(":")[1] == runtime.cipher.primary_key_id
    patched = await client.patch(
        f"/api/v1/providers/{pid}",
        json={"api_key": "", "models": ["a", "b"]},
        headers=tenant.headers,
    )
    assert patched.status_code == 200 and patched.json()["has_api_key"] is False
    assert patched.json()["models"] == ["a", "b"]
    dup = await _create(client, tenant.headers, name=body["name"])
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    assert (
        await client.delete(f"/api/v1/providers/{pid}", headers=tenant.headers)
    ).status_code == 204
    assert (await client.get(f"/api/v1/providers/{pid}", headers=tenant.headers)).status_code == 404
    audit = await client.get("/api/v1/audit-logs?action=provider.*", headers=tenant.headers)
    actions = [e["action"] for e in audit.json()["items"]]
    assert actions == ["provider.deleted", "provider.updated", "provider.created"]
    assert SECRET not in audit.text


async def test_bad_input_names_the_field(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    bad_kind = await _create(client, tenant.headers, kind="nope")
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind"
    bad_name = await _create(client, tenant.headers, name="Has Spaces")
    assert bad_name.status_code == 422 and bad_name.json()["field"] == "name"


async def test_connectivity_test_lists_models_and_hides_key(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("authorization", ""))
        if request.url.host == "down.test":
            return httpx2.Response(401, json={"error": f"bad key {SECRET}"})
        return httpx2.Response(200, json={"data": [{"id": "gpt-4o"}, {"id": "gpt-4o-mini"}]})

    previous = runtime.http_client
    runtime.http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    try:
        tenant = await create_tenant(client)
        ok = (await _create(client, tenant.headers)).json()
        result = await client.post(f"/api/v1/providers/{ok['id']}/test", headers=tenant.headers)
        assert result.status_code == 200
        assert result.json()["ok"] is True and result.json()["models"] == ["gpt-4o", "gpt-4o-mini"]
        assert seen == [f"Bearer {SECRET}"]
        bad = (await _create(client, tenant.headers, base_url="http://down.test/v1")).json()
        failed = await client.post(f"/api/v1/providers/{bad['id']}/test", headers=tenant.headers)
        assert failed.status_code == 200 and failed.json()["ok"] is False
        assert "401" in failed.json()["error"] and SECRET not in failed.text
    finally:
        await runtime.http_client.aclose()
        runtime.http_client = previous


async def test_other_org_gets_404_and_member_or_read_key_cannot_manage(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_tenant(client)
    other = await create_tenant(client)
    pid = (await _create(client, owner.headers)).json()["id"]
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test")):
        resp = await client.request(
            method,
            f"/api/v1/providers/{pid}{path}",
            headers=other.headers,
            json={} if method == "PATCH" else None,
        )
        assert resp.status_code == 404, (method, path, resp.text)
    listed = await client.get("/api/v1/providers", headers=other.headers)
    assert pid not in listed.text
    read_key = await create_api_key(client, owner, scopes=["read"])
    denied = await _create(client, {"X-Api-Key": read_key["key"]})
    assert denied.status_code == 403
    assert (
        await client.get(f"/api/v1/providers/{pid}", headers={"X-Api-Key": read_key["key"]})
    ).status_code == 200


async def test_member_cannot_create(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    invite = await client.post(
        f"/api/v1/orgs/{owner.org_id}/invitations",
        json={"email": f"m-{uuid.uuid4().hex[:6]}@example.org", "role": "member"},
        headers=owner.headers,
    )
    if invite.status_code in (404, 405):
        pytest.skip("invitations not available")
    member = await create_tenant(
        client, email=invite.json()["email"], invite_token=invite.json()["token"]
    )
    assert (await _create(client, member.headers)).status_code == 403


async def test_rotate_master_key_re_encrypts(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    pid = uuid.UUID((await _create(client, tenant.headers)).json()["id"])
    new_key = os.urandom(32)
    rotated = Cipher(new_key, [_primary_key(runtime)])
    async with transaction(runtime.sessionmaker) as session:
        changed = await rotate_master_key(session, rotated)
    assert changed >= 1
    async with runtime.sessionmaker() as session:
        row = (
            await session.execute(
                select(Provider).where(Provider.id == pid).execution_options(tenant_bypass="test")
            )
        ).scalar_one()
    assert (
        row.api_key_enc is not None and Cipher.key_id_of(row.api_key_enc) == rotated.primary_key_id
    )
    assert rotated.decrypt(row.api_key_enc, context=f"provider:{pid}") == SECRET
    async with transaction(runtime.sessionmaker) as session:
        assert await rotate_master_key(session, rotated) == 0
        # put the original key back for the rest of the session's tests
        back = Cipher(_primary_key(runtime), [new_key])
        await rotate_master_key(session, back)


def _primary_key(runtime: Runtime) -> bytes:
    from agentdeck.config import resolve_secrets

    return resolve_secrets(runtime.settings)[1]


def test_cipher_blob_is_versioned() -> None:
    blob = Cipher(os.urandom(32)).encrypt("x")
    assert blob.startswith("v1:") and json.dumps(blob)

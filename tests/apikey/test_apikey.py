"""API keys: shown once, stored hashed, scoped, space-limited, revocable, tenant-isolated."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from agentdeck.kit.crypto import sha256_hex
from agentdeck.models import ApiKey
from tests.factories import create_api_key, create_tenant, key_headers, route_missing

PROBLEM = "application/problem+json"
_BYPASS = {"tenant_bypass": "test"}


async def _stored_key(app: Any, key_id: str) -> ApiKey:
    async with app.state.runtime.sessionmaker() as session:
        stmt = select(ApiKey).where(ApiKey.id == uuid.UUID(key_id)).execution_options(**_BYPASS)
        row: ApiKey = (await session.execute(stmt)).scalar_one()
        return row


async def _set_key(app: Any, key_id: str, **values: Any) -> None:
    async with app.state.runtime.sessionmaker() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(key_id))
            .values(**values)
            .execution_options(**_BYPASS)
        )
        await session.commit()


async def test_the_key_is_shown_once_and_never_again(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    created = await create_api_key(client, tenant, name="ci", scopes=["read", "run"])
    key = created["key"]
    assert key.startswith("ad_")
    assert created["prefix"] == key[:10]
    assert created["scopes"] == ["read", "run"]

    listed = await client.get("/api/v1/api-keys", headers=tenant.headers)
    got = await client.get(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)
    for resp in (listed, got):
        assert resp.status_code == 200
        assert key not in resp.text
        assert "key" not in resp.json() or resp.json()["key"] != key
    assert [k["id"] for k in listed.json()["items"]] == [created["id"]]
    assert "key" not in listed.json()["items"][0]
    assert "key" not in got.json()


async def test_the_database_stores_only_the_hash(client: httpx.AsyncClient, app: Any) -> None:
    tenant = await create_tenant(client)
    created = await create_api_key(client, tenant)
    row = await _stored_key(app, created["id"])
    assert row.key_hash == sha256_hex(created["key"])
    columns = {c.key: getattr(row, c.key) for c in ApiKey.__table__.columns}
    assert created["key"] not in repr(columns)
    assert created["key"][10:] not in repr(columns), "not even the secret part of the key"


@pytest.mark.parametrize("how", ["x-api-key", "bearer"])
async def test_a_key_authenticates_and_records_its_use(client: httpx.AsyncClient, how: str) -> None:
    tenant = await create_tenant(client)
    created = await create_api_key(client, tenant, scopes=["read"])
    assert created["last_used_at"] is None
    headers = (
        key_headers(created["key"])
        if how == "x-api-key"
        else {"Authorization": f"Bearer {created['key']}"}
    )
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["auth"] == "api_key"
    assert me.json()["scopes"] == ["read"]
    assert me.json()["current_org"]["id"] == tenant.org_id
    after = await client.get(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)
    assert after.json()["last_used_at"] is not None


async def test_a_read_key_reads_but_cannot_write(client: httpx.AsyncClient, app: Any) -> None:
    tenant = await create_tenant(client)
    other = await create_api_key(client, tenant, scopes=["admin"])
    read = key_headers((await create_api_key(client, tenant, scopes=["read"]))["key"])

    assert (await client.get("/api/v1/api-keys", headers=read)).status_code == 200
    assert (await client.get(f"/api/v1/api-keys/{other['id']}", headers=read)).status_code == 200
    attempts = [
        client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["read"]}, headers=read),
        client.delete(f"/api/v1/api-keys/{other['id']}", headers=read),
    ]
    writes: list[tuple[str, str, dict[str, Any] | None]] = []
    for path, item in app.openapi()["paths"].items():
        if "patch" in item and path.startswith("/api/v1/orgs/{org_id}") and path.count("{") == 1:
            writes.append(("PATCH", path.replace("{org_id}", tenant.org_id), {"name": "x"}))
        if "post" in item and path == "/api/v1/spaces":
            writes.append(("POST", path, {"name": "x"}))
    for method, path, body in writes:
        attempts.append(client.request(method, path, json=body, headers=read))
    for attempt in attempts:
        resp = await attempt
        assert resp.status_code == 403, resp.text
        assert resp.headers["content-type"] == PROBLEM
    # Nothing was revoked by the refused DELETE.
    assert (await client.get("/api/v1/me", headers=key_headers(other["key"]))).status_code == 200


async def test_revoked_and_expired_keys_are_401(client: httpx.AsyncClient, app: Any) -> None:
    tenant = await create_tenant(client)
    revoked = await create_api_key(client, tenant)
    gone = await client.delete(f"/api/v1/api-keys/{revoked['id']}", headers=tenant.headers)
    assert gone.status_code == 204
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    expiring = await create_api_key(client, tenant, expires_at=later)
    assert (await client.get("/api/v1/me", headers=key_headers(expiring["key"]))).is_success
    await _set_key(app, expiring["id"], expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1))

    for key in (revoked["key"], expiring["key"]):
        resp = await client.get("/api/v1/me", headers=key_headers(key))
        assert resp.status_code == 401
        assert resp.headers["content-type"] == PROBLEM
        assert "WWW-Authenticate" in resp.headers
    shown = await client.get(f"/api/v1/api-keys/{revoked['id']}", headers=tenant.headers)
    assert shown.json()["revoked_at"] is not None


async def test_an_expiry_in_the_past_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/api-keys",
        json={"name": "old", "scopes": ["read"], "expires_at": "2000-01-01T00:00:00"},
        headers=tenant.headers,
    )
    assert resp.status_code == 422
    assert resp.json()["field"] == "expires_at"


async def test_a_key_cannot_mint_a_key_with_more_scopes(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    for weaker in (["read"], ["run"], ["write"]):
        key = key_headers((await create_api_key(client, tenant, scopes=weaker))["key"])
        resp = await client.post(
            "/api/v1/api-keys", json={"name": "escalate", "scopes": ["admin"]}, headers=key
        )
        assert resp.status_code == 403, (weaker, resp.text)
    listed = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert all(k["name"] != "escalate" for k in listed)


async def test_a_space_limited_key_sees_only_its_spaces(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    made = [
        await client.post("/api/v1/spaces", json={"name": n}, headers=tenant.headers)
        for n in ("Allowed", "Hidden")
    ]
    if route_missing(made[0]):
        pytest.skip("/api/v1/spaces does not exist yet")
    allowed, hidden = (r.json()["id"] for r in made)
    key = await create_api_key(client, tenant, scopes=["admin"], space_ids=[allowed])
    assert key["space_ids"] == [allowed]
    headers = key_headers(key["key"])

    listed = await client.get("/api/v1/spaces", headers=headers)
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()["items"]] == [allowed]
    assert (await client.get(f"/api/v1/spaces/{allowed}", headers=headers)).status_code == 200
    for method in ("GET", "PATCH", "DELETE"):
        body = {"name": "x"} if method == "PATCH" else None
        resp = await client.request(method, f"/api/v1/spaces/{hidden}", json=body, headers=headers)
        assert resp.status_code == 404, (method, resp.text)

    # API keys are org-level: a space-limited key may neither make, list, read nor revoke
    # one (so it cannot widen itself either); the org-wide key still can.
    own_id = key["id"]
    for method, path, body in (
        ("POST", "/api/v1/api-keys", {"name": "child", "scopes": ["read"]}),
        ("POST", "/api/v1/api-keys", {"name": "w", "scopes": ["read"], "space_ids": [hidden]}),
        ("GET", "/api/v1/api-keys", None),
        ("GET", f"/api/v1/api-keys/{own_id}", None),
        ("DELETE", f"/api/v1/api-keys/{own_id}", None),
    ):
        resp = await client.request(method, path, json=body, headers=headers)
        assert resp.status_code == 403, (method, path, resp.text)
        assert resp.headers["content-type"] == PROBLEM
    listed_keys = await client.get("/api/v1/api-keys", headers=tenant.headers)
    assert [k["id"] for k in listed_keys.json()["items"]] == [own_id]


async def test_another_orgs_key_is_404(client: httpx.AsyncClient) -> None:
    owner, stranger = await create_tenant(client), await create_tenant(client)
    theirs = await create_api_key(client, owner)
    for method in ("GET", "DELETE"):
        resp = await client.request(
            method, f"/api/v1/api-keys/{theirs['id']}", headers=stranger.headers
        )
        assert resp.status_code == 404
        assert resp.headers["content-type"] == PROBLEM
    listed = await client.get("/api/v1/api-keys", headers=stranger.headers)
    assert listed.json()["items"] == []
    still = await client.get("/api/v1/me", headers=key_headers(theirs["key"]))
    assert still.status_code == 200

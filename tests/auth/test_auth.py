from __future__ import annotations

import httpx

from tests.factories import PASSWORD, create_tenant, unique_email


async def test_signup_creates_user_org_and_tokens(client: httpx.AsyncClient) -> None:
    email = unique_email()
    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "name": "Ada", "org_name": "Engines"},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["email"] == email
    assert body["org"]["name"] == "Engines"
    assert body["org"]["role"] == "owner"
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["current_org"]["id"] == body["org"]["id"]


async def test_login_and_wrong_password(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    ok = await client.post("/api/v1/auth/login", json={"email": tenant.email, "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["org"]["id"] == tenant.org_id
    bad = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": "nope-nope-nope"}
    )
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"

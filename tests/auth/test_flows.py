"""Sign-up validation, the OAuth2 form, refresh rotation, logout, /me and org switching."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import PASSWORD, create_tenant, invite, switch_org, unique_email

PROBLEM = "application/problem+json"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_signup_rejects_a_short_password(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": unique_email(), "password": "short", "name": "Ada"},
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["field"] == "password"


async def test_signup_rejects_a_duplicate_email(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": tenant.email.upper(), "password": PASSWORD, "name": "Again"},
    )
    assert resp.status_code == 409
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["field"] == "email"


async def test_signup_rejects_a_bad_email(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/auth/signup", json={"email": "not-an-email", "password": PASSWORD, "name": "A"}
    )
    assert resp.status_code == 422
    assert resp.json()["field"] == "email"


async def test_login_with_json_and_with_the_oauth2_form(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    by_json = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": PASSWORD}
    )
    by_form = await client.post(
        "/api/v1/auth/token", data={"username": tenant.email, "password": PASSWORD}
    )
    for resp in (by_json, by_form):
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["org"]["id"] == tenant.org_id
        me = await client.get("/api/v1/me", headers=_bearer(body["access_token"]))
        assert me.status_code == 200
        assert me.json()["user"]["id"] == tenant.user_id
    bad_form = await client.post(
        "/api/v1/auth/token", data={"username": tenant.email, "password": "wrong-password!"}
    )
    assert bad_form.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != tenant.refresh_token
    assert (await client.get("/api/v1/me", headers=_bearer(rotated["access_token"]))).is_success
    newest = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert newest.status_code == 200
    newest_token = newest.json()["refresh_token"]

    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert reused.status_code == 401
    assert reused.headers["content-type"] == PROBLEM
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": newest_token})
    assert after.status_code == 401, "reuse must revoke every token of the family"


async def test_refresh_of_an_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": "rt_unknown"})
    assert resp.status_code == 401


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": tenant.refresh_token})
    assert out.status_code == 204
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert resp.status_code == 401


async def test_me_lists_orgs_and_roles(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client, org_name="Difference Engines")
    resp = await client.get("/api/v1/me", headers=tenant.headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["auth"] == "user"
    assert body["scopes"] is None
    assert body["user"]["email"] == tenant.email
    assert body["orgs"] == [{"id": tenant.org_id, "name": "Difference Engines", "role": "owner"}]
    assert body["current_org"]["id"] == tenant.org_id


async def test_switch_org_to_a_non_member_org_is_404(client: httpx.AsyncClient) -> None:
    mine, other = await create_tenant(client), await create_tenant(client)
    resp = await client.post(
        "/api/v1/auth/switch-org", json={"org_id": other.org_id}, headers=mine.headers
    )
    assert resp.status_code == 404
    assert resp.headers["content-type"] == PROBLEM


async def test_switch_org_after_accepting_an_invitation(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client, org_name="Inviting Org")
    invitee = await create_tenant(client, org_name="Home Org")
    invitation = await invite(client, owner, invitee.email, role="admin")
    if invitation is None:
        pytest.skip("POST /api/v1/orgs/{org_id}/invitations does not exist yet")
    accepted = await client.post(
        "/api/v1/auth/accept-invitation",
        json={"token": invitation["token"]},
        headers=invitee.headers,
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["org"] == {"id": owner.org_id, "name": "Inviting Org", "role": "admin"}

    me = (await client.get("/api/v1/me", headers=invitee.headers)).json()
    assert {(o["id"], o["role"]) for o in me["orgs"]} == {
        (invitee.org_id, "owner"),
        (owner.org_id, "admin"),
    }
    there = await switch_org(client, invitee, owner.org_id)
    assert there.org_id == owner.org_id
    me_there = (await client.get("/api/v1/me", headers=there.headers)).json()
    assert me_there["current_org"] == {"id": owner.org_id, "name": "Inviting Org", "role": "admin"}
    back = await switch_org(client, there, invitee.org_id)
    assert back.body["org"]["role"] == "owner"
    # The invitation works once.
    again = await client.post(
        "/api/v1/auth/accept-invitation",
        json={"token": invitation["token"]},
        headers=invitee.headers,
    )
    assert again.status_code == 422

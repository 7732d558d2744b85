"""Invitations: created by admins, token shown once and stored hashed, accepted through auth."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from sqlalchemy import select, update

from agentdeck.kit.crypto import sha256_hex
from agentdeck.models import Invitation
from tests.factories import (
    PASSWORD,
    create_tenant,
    invite,
    join_by_invitation,
    unique_email,
)
from tests.org.test_org import audit_entries

_BYPASS = {"tenant_bypass": "test"}


async def _signup(client: httpx.AsyncClient, email: str, token: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "name": "Invitee", "invite_token": token},
    )


async def test_create_shows_the_token_once_and_stores_its_hash(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner = await create_tenant(client)
    email = unique_email("Grace")
    url = f"/api/v1/orgs/{owner.org_id}/invitations"
    created = await client.post(url, json={"email": email, "role": "admin"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == email.lower()
    assert body["role"] == "admin"
    assert body["invited_by"] == owner.user_id
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(days=6) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    token = body["token"]
    assert token.startswith("inv_")

    listed = await client.get(url, headers=owner.headers)
    assert [i["id"] for i in listed.json()["items"]] == [body["id"]]
    assert "token" not in listed.json()["items"][0]
    assert token not in listed.text
    async with app.state.runtime.sessionmaker() as session:
        stmt = select(Invitation).where(Invitation.id == uuid.UUID(body["id"]))
        row = (await session.execute(stmt.execution_options(**_BYPASS))).scalar_one()
    assert row.token_hash == sha256_hex(token)

    entries = await audit_entries(client, owner, "invitation.created")
    assert entries[0]["target_id"] == body["id"]
    assert entries[0]["changes"]["email"] == email.lower()
    assert token not in str(entries)


async def test_invitation_role_matrix(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    admin = await join_by_invitation(client, owner, "admin")
    member = await join_by_invitation(client, owner, "member")
    url = f"/api/v1/orgs/{owner.org_id}/invitations"

    async def attempt(headers: dict[str, str], role: str) -> int:
        resp = await client.post(url, json={"email": unique_email(), "role": role}, headers=headers)
        return resp.status_code

    assert await attempt(member.headers, "member") == 403
    assert (await client.get(url, headers=member.headers)).status_code == 403
    assert await attempt(admin.headers, "member") == 201
    assert await attempt(admin.headers, "admin") == 201
    assert await attempt(admin.headers, "owner") == 403
    assert await attempt(owner.headers, "owner") == 201
    invalid = await client.post(
        url, json={"email": "not-an-email", "role": "member"}, headers=owner.headers
    )
    assert invalid.status_code == 422
    assert invalid.json()["field"] == "email"


async def test_signing_up_with_the_token_joins_with_the_role(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client, org_name="Inviting")
    email = unique_email()
    invitation = await invite(client, owner, email, "admin")
    assert invitation is not None

    signup = await _signup(client, email, invitation["token"])
    assert signup.status_code == 201, signup.text
    assert signup.json()["org"] == {"id": owner.org_id, "name": "Inviting", "role": "admin"}
    members = await client.get(f"/api/v1/orgs/{owner.org_id}/members", headers=owner.headers)
    assert (signup.json()["user"]["id"], "admin") in {
        (m["user_id"], m["role"]) for m in members.json()["items"]
    }
    pending = await client.get(f"/api/v1/orgs/{owner.org_id}/invitations", headers=owner.headers)
    assert pending.json()["items"] == []
    assert (await audit_entries(client, owner, "invitation.accepted"))[0]["target_id"] == (
        invitation["id"]
    )


async def test_an_existing_user_logs_in_with_the_token(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    existing = await create_tenant(client)
    invitation = await invite(client, owner, existing.email, "member")
    assert invitation is not None

    login = await client.post(
        "/api/v1/auth/login",
        json={"email": existing.email, "password": PASSWORD, "invite_token": invitation["token"]},
    )
    assert login.status_code == 200, login.text
    assert login.json()["org"]["id"] == owner.org_id
    assert login.json()["org"]["role"] == "member"
    members = await client.get(f"/api/v1/orgs/{owner.org_id}/members", headers=owner.headers)
    assert existing.user_id in {m["user_id"] for m in members.json()["items"]}


async def test_bad_tokens_are_refused(client: httpx.AsyncClient, app: Any) -> None:
    owner = await create_tenant(client)

    # Sent to another address.
    wrong = await invite(client, owner, unique_email())
    assert wrong is not None
    resp = await _signup(client, unique_email(), wrong["token"])
    assert resp.status_code == 422
    assert resp.json()["field"] == "invite_token"

    # Revoked.
    email = unique_email()
    revoked = await invite(client, owner, email)
    assert revoked is not None
    gone = await client.delete(
        f"/api/v1/orgs/{owner.org_id}/invitations/{revoked['id']}", headers=owner.headers
    )
    assert gone.status_code == 204
    assert (await _signup(client, email, revoked["token"])).status_code == 422

    # Expired.
    email = unique_email()
    expired = await invite(client, owner, email)
    assert expired is not None
    async with app.state.runtime.sessionmaker() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.id == uuid.UUID(expired["id"]))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            .execution_options(**_BYPASS)
        )
        await session.commit()
    assert (await _signup(client, email, expired["token"])).status_code == 422

    # Used.
    email = unique_email()
    used = await invite(client, owner, email)
    assert used is not None
    assert (await _signup(client, email, used["token"])).status_code == 201
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    again = await client.post(
        "/api/v1/auth/accept-invitation",
        json={"token": used["token"]},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
    )
    assert again.status_code == 422
    assert again.json()["field"] == "invite_token"


async def test_duplicates_are_conflicts(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    url = f"/api/v1/orgs/{owner.org_id}/invitations"

    existing = await client.post(url, json={"email": member.email.upper()}, headers=owner.headers)
    assert existing.status_code == 409
    assert existing.json()["field"] == "email"
    email = unique_email()
    assert (await client.post(url, json={"email": email}, headers=owner.headers)).is_success
    twice = await client.post(url, json={"email": email}, headers=owner.headers)
    assert twice.status_code == 409
    assert twice.json()["field"] == "email"


async def test_revocation_rules_and_audit(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    admin = await join_by_invitation(client, owner, "admin")
    member = await join_by_invitation(client, owner, "member")
    url = f"/api/v1/orgs/{owner.org_id}/invitations"
    for_owner = await invite(client, owner, unique_email(), "owner")
    for_member = await invite(client, owner, unique_email(), "member")
    assert for_owner is not None
    assert for_member is not None

    assert (
        await client.delete(f"{url}/{for_member['id']}", headers=member.headers)
    ).status_code == 403
    assert (
        await client.delete(f"{url}/{for_owner['id']}", headers=admin.headers)
    ).status_code == 403
    assert (
        await client.delete(f"{url}/{for_member['id']}", headers=admin.headers)
    ).status_code == 204
    # Revoking twice is a no-op; an unknown id is 404.
    assert (
        await client.delete(f"{url}/{for_member['id']}", headers=owner.headers)
    ).status_code == 204
    unknown = await client.delete(f"{url}/{uuid.uuid4()}", headers=owner.headers)
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "invitation_id"

    pending = await client.get(url, headers=admin.headers)
    assert [i["id"] for i in pending.json()["items"]] == [for_owner["id"]]
    entries = await audit_entries(client, owner, "invitation.revoked")
    assert [e["target_id"] for e in entries] == [for_member["id"]]
    assert entries[0]["actor_user_id"] == admin.user_id


async def test_another_orgs_invitations_are_invisible(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    stranger = await create_tenant(client)
    theirs = await invite(client, owner, unique_email())
    assert theirs is not None

    # Even through the stranger's own org id, another org's invitation is not there.
    own_url = f"/api/v1/orgs/{stranger.org_id}/invitations"
    gone = await client.delete(f"{own_url}/{theirs['id']}", headers=stranger.headers)
    assert gone.status_code == 404
    assert (await client.get(own_url, headers=stranger.headers)).json()["items"] == []
    still = await client.get(f"/api/v1/orgs/{owner.org_id}/invitations", headers=owner.headers)
    assert [i["id"] for i in still.json()["items"]] == [theirs["id"]]

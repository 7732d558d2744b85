"""Organisation members: listing, the role matrix, last-owner protection, leaving."""

from __future__ import annotations

import httpx

from tests.factories import (
    PASSWORD,
    add_space_member,
    create_api_key,
    create_space,
    create_tenant,
    invite,
    join_by_invitation,
    key_headers,
    personal_space_id,
    tenant_from,
)
from tests.org.test_org import audit_entries


async def test_members_list_is_paginated_with_user_details(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    admin = await join_by_invitation(client, owner, "admin", name="Grace")
    member = await join_by_invitation(client, owner, "member")
    url = f"/api/v1/orgs/{owner.org_id}/members"

    first = await client.get(url, params={"limit": 2}, headers=member.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [m["user_id"] for m in page["items"]] == [member.user_id, admin.user_id]
    assert page["next_cursor"]
    grace = page["items"][1]
    assert grace["email"] == admin.email
    assert grace["name"] == "Grace"
    assert grace["role"] == "admin"
    assert grace["joined_at"]
    rest = await client.get(
        url, params={"limit": 2, "cursor": page["next_cursor"]}, headers=member.headers
    )
    assert [(m["user_id"], m["role"]) for m in rest.json()["items"]] == [(owner.user_id, "owner")]
    assert rest.json()["next_cursor"] is None
    bad = await client.get(url, params={"cursor": "garbage!"}, headers=member.headers)
    assert bad.status_code == 422


async def test_role_change_matrix(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    admin = await join_by_invitation(client, owner, "admin")
    member = await join_by_invitation(client, owner, "member")
    other = await join_by_invitation(client, owner, "member")
    url = f"/api/v1/orgs/{owner.org_id}/members"

    async def set_role(actor_headers: dict[str, str], user_id: str, role: str) -> int:
        resp = await client.patch(f"{url}/{user_id}", json={"role": role}, headers=actor_headers)
        return resp.status_code

    # Members manage nobody, not even themselves.
    assert await set_role(member.headers, other.user_id, "admin") == 403
    assert await set_role(member.headers, member.user_id, "admin") == 403
    # Admins move people between member and admin, but never touch the owner role.
    assert await set_role(admin.headers, other.user_id, "admin") == 200
    assert await set_role(admin.headers, other.user_id, "member") == 200
    assert await set_role(admin.headers, other.user_id, "owner") == 403
    assert await set_role(admin.headers, owner.user_id, "member") == 403
    # Owners do everything.
    assert await set_role(owner.headers, member.user_id, "owner") == 200
    assert await set_role(owner.headers, member.user_id, "admin") == 200
    resp = await client.patch(
        f"{url}/{admin.user_id}", json={"role": "member"}, headers=owner.headers
    )
    assert resp.json()["role"] == "member"
    assert resp.json()["email"] == admin.email
    # The new role takes effect on the next request.
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    assert await set_role(admin.headers, other.user_id, "admin") == 403

    invalid = await client.patch(
        f"{url}/{other.user_id}", json={"role": "king"}, headers=owner.headers
    )
    assert invalid.status_code == 422
    assert invalid.json()["field"] == "role"
    unknown = await client.patch(
        f"{url}/{owner.org_id}", json={"role": "admin"}, headers=owner.headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "user_id"

    entries = await audit_entries(client, owner, "org.member_role_changed")
    assert len(entries) == 5
    assert entries[0]["target_id"] == admin.user_id
    assert entries[0]["changes"] == {"role": {"from": "admin", "to": "member"}}


async def test_the_last_owner_cannot_be_demoted_or_removed(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    url = f"/api/v1/orgs/{owner.org_id}/members/{owner.user_id}"

    demote = await client.patch(url, json={"role": "admin"}, headers=owner.headers)
    assert demote.status_code == 409
    assert demote.json()["field"] == "role"
    leave = await client.delete(url, headers=owner.headers)
    assert leave.status_code == 409
    assert leave.json()["field"] == "user_id"

    second = await join_by_invitation(client, owner, "owner")
    second_url = f"/api/v1/orgs/{owner.org_id}/members/{second.user_id}"
    assert (await client.patch(url, json={"role": "admin"}, headers=owner.headers)).is_success
    # Now ``second`` is the last owner.
    assert (await client.delete(second_url, headers=second.headers)).status_code == 409
    assert (
        await client.patch(second_url, json={"role": "member"}, headers=second.headers)
    ).status_code == 409


async def test_removal_matrix_and_leaving(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    co_owner = await join_by_invitation(client, owner, "owner")
    admin = await join_by_invitation(client, owner, "admin")
    member = await join_by_invitation(client, owner, "member")
    leaver = await join_by_invitation(client, owner, "member")
    url = f"/api/v1/orgs/{owner.org_id}/members"

    assert (
        await client.delete(f"{url}/{leaver.user_id}", headers=member.headers)
    ).status_code == 403
    assert (await client.delete(f"{url}/{owner.user_id}", headers=admin.headers)).status_code == 403
    assert (
        await client.delete(f"{url}/{member.user_id}", headers=admin.headers)
    ).status_code == 204
    assert (
        await client.delete(f"{url}/{co_owner.user_id}", headers=owner.headers)
    ).status_code == 204
    assert (
        await client.delete(f"{url}/{leaver.user_id}", headers=leaver.headers)
    ).status_code == 204

    # Removed members are out at once; the others remain.
    for gone in (member, co_owner, leaver):
        assert (await client.get("/api/v1/me", headers=gone.headers)).status_code == 401
    listed = await client.get(url, headers=owner.headers)
    assert {m["user_id"] for m in listed.json()["items"]} == {owner.user_id, admin.user_id}
    again = await client.delete(f"{url}/{member.user_id}", headers=owner.headers)
    assert again.status_code == 404
    assert again.json()["field"] == "user_id"

    entries = await audit_entries(client, owner, "org.member_removed")
    assert [(e["target_id"], e["changes"]["left"]) for e in entries] == [
        (leaver.user_id, True),
        (co_owner.user_id, False),
        (member.user_id, False),
    ]


async def test_removal_takes_the_member_out_of_the_orgs_spaces(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    personal = await personal_space_id(client, member)
    shared = await create_space(client, owner)
    await add_space_member(client, owner, shared["id"], member.user_id, "editor")
    own = await create_space(client, member)
    key = await create_api_key(client, member, scopes=["read"])

    url = f"/api/v1/orgs/{owner.org_id}/members/{member.user_id}"
    assert (await client.delete(url, headers=owner.headers)).status_code == 204

    for space in (shared["id"], own["id"]):
        members = await client.get(f"/api/v1/spaces/{space}/members", headers=owner.headers)
        assert member.user_id not in {m["user_id"] for m in members.json()["items"]}
    # Invited back, they get a fresh personal space and none of their old memberships.
    invitation = await invite(client, owner, member.email)
    assert invitation is not None
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": member.email, "password": PASSWORD, "invite_token": invitation["token"]},
    )
    assert login.status_code == 200, login.text
    back = tenant_from(login.json(), member.email, PASSWORD)
    assert back.org_id == owner.org_id
    spaces = (await client.get("/api/v1/spaces", headers=back.headers)).json()["items"]
    assert len(spaces) == 1
    assert spaces[0]["is_personal"] is True
    assert spaces[0]["id"] != personal
    # Their old API key was revoked, so rejoining does not revive it.
    assert (await client.get("/api/v1/me", headers=key_headers(key["key"]))).status_code == 401
    revoked = await audit_entries(client, owner, "api_key.revoked")
    assert [e["target_id"] for e in revoked] == [key["id"]]

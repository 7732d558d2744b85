"""Organisations: read, update, delete; role matrix, API-key scopes, other tenants get 404."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import (
    PASSWORD,
    Tenant,
    create_api_key,
    create_tenant,
    join_by_invitation,
    key_headers,
)

PROBLEM = "application/problem+json"


async def audit_entries(client: httpx.AsyncClient, admin: Tenant, action: str) -> list[Any]:
    resp = await client.get("/api/v1/audit-logs", params={"action": action}, headers=admin.headers)
    assert resp.status_code == 200, resp.text
    items: list[Any] = resp.json()["items"]
    return items


async def test_get_and_list_orgs(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client, org_name="Engines")
    member = await join_by_invitation(client, owner, "member")

    got = await client.get(f"/api/v1/orgs/{owner.org_id}", headers=owner.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["id"] == owner.org_id
    assert body["name"] == "Engines"
    assert body["description"] is None
    assert body["role"] == "owner"

    as_member = await client.get(f"/api/v1/orgs/{owner.org_id}", headers=member.headers)
    assert as_member.json()["role"] == "member"
    listed = await client.get("/api/v1/orgs", headers=member.headers)
    assert listed.status_code == 200
    assert listed.json() == {
        "items": [{"id": owner.org_id, "name": "Engines", "role": "member"}],
        "next_cursor": None,
    }


async def test_update_org_role_matrix_and_audit(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client, org_name="Before")
    admin = await join_by_invitation(client, owner, "admin")
    member = await join_by_invitation(client, owner, "member")
    url = f"/api/v1/orgs/{owner.org_id}"

    refused = await client.patch(url, json={"name": "Nope"}, headers=member.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM

    by_admin = await client.patch(
        url, json={"name": "After", "description": "d"}, headers=admin.headers
    )
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["name"] == "After"
    assert by_admin.json()["role"] == "admin"
    by_owner = await client.patch(url, json={"description": None}, headers=owner.headers)
    assert by_owner.status_code == 200
    assert by_owner.json()["description"] is None
    assert by_owner.json()["name"] == "After"

    entries = await audit_entries(client, owner, "org.updated")
    assert [e["changes"] for e in entries] == [
        {"description": {"from": "d", "to": None}},
        {"name": {"from": "Before", "to": "After"}, "description": {"from": None, "to": "d"}},
    ]
    assert entries[1]["actor_user_id"] == admin.user_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"owner": "me"}, "owner"),
    ],
)
async def test_update_org_validation(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    owner = await create_tenant(client)
    resp = await client.patch(f"/api/v1/orgs/{owner.org_id}", json=body, headers=owner.headers)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field


async def test_delete_org_is_owner_only_and_cascades(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    admin = await join_by_invitation(client, owner, "admin")
    member = await join_by_invitation(client, owner, "member")
    key = await create_api_key(client, owner, scopes=["admin"])
    url = f"/api/v1/orgs/{owner.org_id}"

    for tenant in (member, admin):
        resp = await client.delete(url, headers=tenant.headers)
        assert resp.status_code == 403, resp.text
    pending = await client.post(
        f"{url}/invitations", json={"email": "later@example.org"}, headers=owner.headers
    )
    assert pending.status_code == 201

    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    # Tokens and keys of the deleted organisation stop working.
    for headers in (owner.headers, member.headers, key_headers(key["key"])):
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 401
    signup = await client.post(
        "/api/v1/auth/signup",
        json={
            "email": "later@example.org",
            "password": PASSWORD,
            "name": "L",
            "invite_token": pending.json()["token"],
        },
    )
    assert signup.status_code == 422
    # A former member logs in to an organisation of their own.
    login = await client.post(
        "/api/v1/auth/login", json={"email": member.email, "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.json()["org"]["id"] != owner.org_id


async def test_another_org_answers_404_everywhere(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    invitation = await client.post(
        f"/api/v1/orgs/{owner.org_id}/invitations",
        json={"email": "someone@example.org"},
        headers=owner.headers,
    )
    stranger = await create_tenant(client)
    org = f"/api/v1/orgs/{owner.org_id}"
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", org, None),
        ("PATCH", org, {"name": "mine now"}),
        ("DELETE", org, None),
        ("GET", f"{org}/members", None),
        ("PATCH", f"{org}/members/{member.user_id}", {"role": "admin"}),
        ("DELETE", f"{org}/members/{member.user_id}", None),
        ("GET", f"{org}/invitations", None),
        ("POST", f"{org}/invitations", {"email": "x@example.org", "role": "member"}),
        ("DELETE", f"{org}/invitations/{invitation.json()['id']}", None),
        ("GET", f"/api/v1/orgs/{uuid.uuid4()}", None),
    ]
    for method, path, body in calls:
        resp = await client.request(method, path, json=body, headers=stranger.headers)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.headers["content-type"] == PROBLEM
    listed = (await client.get("/api/v1/orgs", headers=stranger.headers)).json()["items"]
    assert [o["id"] for o in listed] == [stranger.org_id]
    # Nothing changed.
    still = await client.get(f"{org}/members", headers=owner.headers)
    assert {m["user_id"] for m in still.json()["items"]} == {owner.user_id, member.user_id}
    assert (await client.get(org, headers=owner.headers)).json()["name"] != "mine now"


async def test_a_read_key_cannot_change_the_org(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    read = key_headers((await create_api_key(client, owner, scopes=["read"]))["key"])
    write = key_headers((await create_api_key(client, owner, scopes=["write"]))["key"])
    org = f"/api/v1/orgs/{owner.org_id}"

    assert (await client.get(org, headers=read)).status_code == 200
    assert (await client.get(f"{org}/members", headers=read)).status_code == 200
    assert (await client.get("/api/v1/orgs", headers=read)).json()["items"][0]["id"] == (
        owner.org_id
    )
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", org, {"name": "x"}),
        ("DELETE", org, None),
        ("PATCH", f"{org}/members/{member.user_id}", {"role": "admin"}),
        ("DELETE", f"{org}/members/{member.user_id}", None),
        ("POST", f"{org}/invitations", {"email": "x@example.org"}),
    ]
    for headers in (read, write):
        for method, path, body in calls:
            resp = await client.request(method, path, json=body, headers=headers)
            assert resp.status_code == 403, (method, path, resp.text)
    admin_key = key_headers((await create_api_key(client, owner, scopes=["admin"]))["key"])
    renamed = await client.patch(org, json={"name": "By key"}, headers=admin_key)
    assert renamed.status_code == 200
    entry = (await audit_entries(client, owner, "org.updated"))[0]
    assert entry["actor_type"] == "api_key"
    assert entry["actor_user_id"] == owner.user_id

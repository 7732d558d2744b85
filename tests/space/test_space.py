"""Spaces: CRUD, the space role matrix, visibility (404), API-key scopes and limits, audit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import (
    Tenant,
    add_space_member,
    create_api_key,
    create_space,
    create_tenant,
    join_by_invitation,
    key_headers,
    personal_space_id,
)

PROBLEM = "application/problem+json"


async def audit_entries(client: httpx.AsyncClient, admin: Tenant, action: str) -> list[Any]:
    resp = await client.get("/api/v1/audit-logs", params={"action": action}, headers=admin.headers)
    assert resp.status_code == 200, resp.text
    items: list[Any] = resp.json()["items"]
    return items


async def test_crud_happy_path(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    created = await create_space(client, owner, name="  Research  ", description="R&D")
    assert created["name"] == "Research"
    assert created["description"] == "R&D"
    assert created["is_personal"] is False
    assert created["role"] == "owner"
    url = f"/api/v1/spaces/{created['id']}"

    listed = (await client.get("/api/v1/spaces", headers=owner.headers)).json()
    assert [(s["id"], s["is_personal"], s["role"]) for s in listed["items"]] == [
        (created["id"], False, "owner"),
        (await personal_space_id(client, owner), True, "owner"),
    ]
    got = await client.get(url, headers=owner.headers)
    assert got.json() == created | {"updated_at": got.json()["updated_at"]}

    patched = await client.patch(url, json={"name": "Labs"}, headers=owner.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Labs"
    assert patched.json()["description"] == "R&D"
    assert (await client.delete(url, headers=owner.headers)).status_code == 204
    assert (await client.get(url, headers=owner.headers)).status_code == 404

    created_entry = (await audit_entries(client, owner, "space.created"))[0]
    assert created_entry["target_id"] == created["id"]
    assert created_entry["changes"] == {"name": "Research", "description": "R&D"}
    updated = (await audit_entries(client, owner, "space.updated"))[0]
    assert updated["changes"] == {"name": {"from": "Research", "to": "Labs"}}
    assert (await audit_entries(client, owner, "space.deleted"))[0]["target_id"] == created["id"]


async def test_list_is_paginated(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    made = [(await create_space(client, owner))["id"] for _ in range(3)]
    first = (await client.get("/api/v1/spaces?limit=2", headers=owner.headers)).json()
    assert [s["id"] for s in first["items"]] == made[::-1][:2]
    rest = await client.get(
        "/api/v1/spaces",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=owner.headers,
    )
    assert rest.json()["items"][0]["id"] == made[0]
    assert rest.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "description": "x" * 2001}, "description"),
        ({"name": "ok", "is_personal": True}, "is_personal"),
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    owner = await create_tenant(client)
    resp = await client.post("/api/v1/spaces", json=body, headers=owner.headers)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field


async def test_space_role_matrix(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    viewer = await join_by_invitation(client, owner, "member")
    editor = await join_by_invitation(client, owner, "member")
    space = await create_space(client, owner)
    await add_space_member(client, owner, space["id"], viewer.user_id, "viewer")
    await add_space_member(client, owner, space["id"], editor.user_id, "editor")
    url = f"/api/v1/spaces/{space['id']}"

    for tenant, role in ((viewer, "viewer"), (editor, "editor")):
        got = await client.get(url, headers=tenant.headers)
        assert got.status_code == 200
        assert got.json()["role"] == role
        listed = (await client.get("/api/v1/spaces", headers=tenant.headers)).json()["items"]
        assert (space["id"], role) in {(s["id"], s["role"]) for s in listed}
    refused = await client.patch(url, json={"name": "v"}, headers=viewer.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert (await client.patch(url, json={"name": "e"}, headers=editor.headers)).status_code == 200
    for tenant in (viewer, editor):
        assert (await client.delete(url, headers=tenant.headers)).status_code == 403
    assert (await client.delete(url, headers=owner.headers)).status_code == 204


async def test_any_org_member_creates_spaces_and_admins_manage_shared_ones(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_tenant(client)
    admin = await join_by_invitation(client, owner, "admin")
    member = await join_by_invitation(client, owner, "member")
    theirs = await create_space(client, member)
    assert theirs["role"] == "owner"
    # Org admins and owners hold the owner role in every shared space.
    got = await client.get(f"/api/v1/spaces/{theirs['id']}", headers=admin.headers)
    assert got.json()["role"] == "owner"
    renamed = await client.patch(
        f"/api/v1/spaces/{theirs['id']}", json={"name": "Renamed"}, headers=owner.headers
    )
    assert renamed.status_code == 200


async def test_invisible_spaces_answer_404_and_are_not_listed(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_tenant(client)
    outsider = await join_by_invitation(client, owner, "member")
    stranger = await create_tenant(client)
    shared = await create_space(client, owner)
    owners_personal = await personal_space_id(client, owner)
    outsiders_personal = await personal_space_id(client, outsider)

    cases = [
        (outsider, shared["id"]),  # same org, not a member
        (outsider, owners_personal),  # someone else's personal space
        (owner, outsiders_personal),  # even the org owner cannot see it
        (stranger, shared["id"]),  # another organisation
        (stranger, owners_personal),
        (owner, str(uuid.uuid4())),
    ]
    for tenant, space_id in cases:
        url = f"/api/v1/spaces/{space_id}"
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", url, None),
            ("PATCH", url, {"name": "x"}),
            ("DELETE", url, None),
            ("GET", f"{url}/members", None),
            ("POST", f"{url}/members", {"user_id": tenant.user_id, "role": "owner"}),
            ("PATCH", f"{url}/members/{owner.user_id}", {"role": "viewer"}),
            ("DELETE", f"{url}/members/{owner.user_id}", None),
        ]
        for method, path, body in calls:
            resp = await client.request(method, path, json=body, headers=tenant.headers)
            assert resp.status_code == 404, (method, path, resp.text)
            assert resp.headers["content-type"] == PROBLEM
        listed = (await client.get("/api/v1/spaces", headers=tenant.headers)).json()["items"]
        assert space_id not in {s["id"] for s in listed}
    assert (await client.get(f"/api/v1/spaces/{shared['id']}", headers=owner.headers)).is_success


async def test_personal_spaces_cannot_be_deleted_or_shared(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    personal = await personal_space_id(client, owner)
    url = f"/api/v1/spaces/{personal}"

    deleted = await client.delete(url, headers=owner.headers)
    assert deleted.status_code == 409
    assert deleted.json()["field"] == "space_id"
    shared = await client.post(
        f"{url}/members",
        json={"user_id": member.user_id, "role": "viewer"},
        headers=owner.headers,
    )
    assert shared.status_code == 409
    renamed = await client.patch(url, json={"name": "Mine"}, headers=owner.headers)
    assert renamed.json()["name"] == "Mine"


async def test_a_read_key_cannot_change_spaces(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    space = await create_space(client, owner)
    read = key_headers((await create_api_key(client, owner, scopes=["read", "run"]))["key"])
    url = f"/api/v1/spaces/{space['id']}"

    assert (await client.get(url, headers=read)).status_code == 200
    assert (await client.get(f"{url}/members", headers=read)).status_code == 200
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/api/v1/spaces", {"name": "x"}),
        ("PATCH", url, {"name": "x"}),
        ("DELETE", url, None),
        ("POST", f"{url}/members", {"user_id": member.user_id, "role": "viewer"}),
        ("PATCH", f"{url}/members/{owner.user_id}", {"role": "viewer"}),
        ("DELETE", f"{url}/members/{owner.user_id}", None),
    ]
    for method, path, body in calls:
        resp = await client.request(method, path, json=body, headers=read)
        assert resp.status_code == 403, (method, path, resp.text)

    write = key_headers((await create_api_key(client, owner, scopes=["write"]))["key"])
    made = await create_space(client, write, name="By key")
    assert made["role"] == "owner"
    entry = (await audit_entries(client, owner, "space.created"))[0]
    assert entry["actor_type"] == "api_key"
    assert entry["target_id"] == made["id"]


async def test_a_space_limited_key_sees_only_its_space(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    allowed = await create_space(client, owner)
    hidden = await create_space(client, owner)
    key = await create_api_key(client, owner, scopes=["write"], space_ids=[allowed["id"]])
    headers = key_headers(key["key"])

    listed = (await client.get("/api/v1/spaces", headers=headers)).json()["items"]
    assert [s["id"] for s in listed] == [allowed["id"]]
    ok = await client.patch(
        f"/api/v1/spaces/{allowed['id']}", json={"name": "Fine"}, headers=headers
    )
    assert ok.status_code == 200
    for path in (f"/api/v1/spaces/{hidden['id']}", f"/api/v1/spaces/{hidden['id']}/members"):
        assert (await client.get(path, headers=headers)).status_code == 404
    # It could not see a space it made, so it may not make one.
    made = await client.post("/api/v1/spaces", json={"name": "Escape"}, headers=headers)
    assert made.status_code == 403

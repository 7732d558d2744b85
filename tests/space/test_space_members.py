"""Space members: owners manage them, org membership is required, one owner always stays."""

from __future__ import annotations

import httpx

from tests.factories import (
    add_space_member,
    create_api_key,
    create_space,
    create_tenant,
    join_by_invitation,
    key_headers,
)
from tests.space.test_space import audit_entries


async def test_add_list_change_remove(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member", name="Grace")
    space = await create_space(client, owner)
    url = f"/api/v1/spaces/{space['id']}/members"

    added = await add_space_member(client, owner, space["id"], member.user_id, "editor")
    assert added["user_id"] == member.user_id
    assert added["email"] == member.email
    assert added["name"] == "Grace"
    assert added["role"] == "editor"
    # The new member sees the space on their next request.
    got = await client.get(f"/api/v1/spaces/{space['id']}", headers=member.headers)
    assert got.json()["role"] == "editor"

    listed = await client.get(url, headers=member.headers)
    assert [(m["user_id"], m["role"]) for m in listed.json()["items"]] == [
        (member.user_id, "editor"),
        (owner.user_id, "owner"),
    ]
    page = await client.get(url, params={"limit": 1}, headers=member.headers)
    assert len(page.json()["items"]) == 1
    assert page.json()["next_cursor"]

    changed = await client.patch(
        f"{url}/{member.user_id}", json={"role": "viewer"}, headers=owner.headers
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "viewer"
    assert (
        await client.delete(f"{url}/{member.user_id}", headers=owner.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/spaces/{space['id']}", headers=member.headers)
    ).status_code == 404

    added_entry = (await audit_entries(client, owner, "space.member_added"))[0]
    assert added_entry["target_id"] == space["id"]
    assert added_entry["changes"] == {"user_id": member.user_id, "role": "editor"}
    changed_entry = (await audit_entries(client, owner, "space.member_role_changed"))[0]
    assert changed_entry["changes"] == {
        "user_id": member.user_id,
        "role": {"from": "editor", "to": "viewer"},
    }
    removed = (await audit_entries(client, owner, "space.member_removed"))[0]
    assert removed["changes"]["user_id"] == member.user_id


async def test_only_org_members_can_be_added_once(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    stranger = await create_tenant(client)
    space = await create_space(client, owner)
    url = f"/api/v1/spaces/{space['id']}/members"

    outsider = await client.post(
        url, json={"user_id": stranger.user_id, "role": "viewer"}, headers=owner.headers
    )
    assert outsider.status_code == 404
    assert outsider.json()["field"] == "user_id"
    await add_space_member(client, owner, space["id"], member.user_id)
    twice = await client.post(
        url, json={"user_id": member.user_id, "role": "owner"}, headers=owner.headers
    )
    assert twice.status_code == 409
    assert twice.json()["field"] == "user_id"
    bad_role = await client.post(
        url, json={"user_id": member.user_id, "role": "admin"}, headers=owner.headers
    )
    assert bad_role.status_code == 422
    missing = await client.patch(
        f"{url}/{stranger.user_id}", json={"role": "viewer"}, headers=owner.headers
    )
    assert missing.status_code == 404
    assert missing.json()["field"] == "user_id"


async def test_member_management_role_matrix(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    viewer = await join_by_invitation(client, owner, "member")
    editor = await join_by_invitation(client, owner, "member")
    newcomer = await join_by_invitation(client, owner, "member")
    space = await create_space(client, owner)
    await add_space_member(client, owner, space["id"], viewer.user_id, "viewer")
    await add_space_member(client, owner, space["id"], editor.user_id, "editor")
    url = f"/api/v1/spaces/{space['id']}/members"

    for actor in (viewer, editor):
        assert (await client.get(url, headers=actor.headers)).status_code == 200
        attempts = [
            client.post(
                url, json={"user_id": newcomer.user_id, "role": "viewer"}, headers=actor.headers
            ),
            client.patch(f"{url}/{viewer.user_id}", json={"role": "owner"}, headers=actor.headers),
            client.delete(f"{url}/{owner.user_id}", headers=actor.headers),
        ]
        for attempt in attempts:
            resp = await attempt
            assert resp.status_code == 403, resp.text
    # Owners manage; a promoted owner can manage too.
    promoted = await client.patch(
        f"{url}/{editor.user_id}", json={"role": "owner"}, headers=owner.headers
    )
    assert promoted.status_code == 200
    await add_space_member(client, editor, space["id"], newcomer.user_id, "viewer")
    # Anyone may leave.
    assert (
        await client.delete(f"{url}/{viewer.user_id}", headers=viewer.headers)
    ).status_code == 204
    left = (await audit_entries(client, owner, "space.member_removed"))[0]
    assert left["changes"]["left"] is True


async def test_a_space_keeps_at_least_one_owner(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    space = await create_space(client, member)
    url = f"/api/v1/spaces/{space['id']}/members/{member.user_id}"

    demote = await client.patch(url, json={"role": "editor"}, headers=member.headers)
    assert demote.status_code == 409
    assert demote.json()["field"] == "role"
    leave = await client.delete(url, headers=member.headers)
    assert leave.status_code == 409
    assert leave.json()["field"] == "user_id"

    await add_space_member(client, member, space["id"], owner.user_id, "owner")
    assert (await client.patch(url, json={"role": "viewer"}, headers=member.headers)).is_success
    owner_url = f"/api/v1/spaces/{space['id']}/members/{owner.user_id}"
    assert (await client.delete(owner_url, headers=owner.headers)).status_code == 409


async def test_another_orgs_space_members_are_invisible(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    stranger = await create_tenant(client)
    space = await create_space(client, owner)
    await add_space_member(client, owner, space["id"], member.user_id)
    url = f"/api/v1/spaces/{space['id']}/members"

    for method, path, body in (
        ("GET", url, None),
        ("POST", url, {"user_id": stranger.user_id, "role": "owner"}),
        ("PATCH", f"{url}/{member.user_id}", {"role": "owner"}),
        ("DELETE", f"{url}/{member.user_id}", None),
    ):
        resp = await client.request(method, path, json=body, headers=stranger.headers)
        assert resp.status_code == 404, (method, resp.text)
    # A stranger's own space cannot take this org's members either.
    theirs = await create_space(client, stranger)
    resp = await client.post(
        f"/api/v1/spaces/{theirs['id']}/members",
        json={"user_id": member.user_id, "role": "viewer"},
        headers=stranger.headers,
    )
    assert resp.status_code == 404
    assert resp.json()["field"] == "user_id"
    listed = await client.get(url, headers=owner.headers)
    assert {m["user_id"] for m in listed.json()["items"]} == {owner.user_id, member.user_id}


async def test_managing_members_needs_an_admin_key(client: httpx.AsyncClient) -> None:
    """A ``write`` key cannot hand out space ownership or remove members (issue 11, item 8)."""
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member", name="Mallory")
    space = await create_space(client, owner)
    url = f"/api/v1/spaces/{space['id']}/members"
    write = key_headers((await create_api_key(client, owner, scopes=["write"]))["key"])
    refused = await client.post(
        url, json={"user_id": member.user_id, "role": "owner"}, headers=write
    )
    assert refused.status_code == 403
    await add_space_member(client, owner, space["id"], member.user_id, "viewer")
    patched = await client.patch(f"{url}/{member.user_id}", json={"role": "owner"}, headers=write)
    assert patched.status_code == 403
    assert (await client.delete(f"{url}/{member.user_id}", headers=write)).status_code == 403
    admin = key_headers((await create_api_key(client, owner, scopes=["admin"]))["key"])
    promoted = await client.patch(f"{url}/{member.user_id}", json={"role": "editor"}, headers=admin)
    assert promoted.status_code == 200

"""An API key limited to some spaces acts only inside them (issue 11 item 7).

Org-level routes (members, invitations, API keys, the audit log, providers, aliases) need a
key for the whole organisation; inside its spaces, a limited key keeps the roles its
creator has there.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import (
    Tenant,
    create_api_key,
    create_space,
    create_tenant,
    join_by_invitation,
    key_headers,
    unique_email,
)

PROBLEM = "application/problem+json"


async def _org_with_two_spaces(
    client: httpx.AsyncClient,
) -> tuple[Tenant, Tenant, dict[str, Any], dict[str, Any]]:
    """An org owner, a plain member, and two shared spaces of the owner's."""
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner, "member")
    allowed = await create_space(client, owner, name="Allowed")
    other = await create_space(client, owner, name="Other")
    return owner, member, allowed, other


def _refused(resp: httpx.Response) -> None:
    assert resp.status_code == 403, resp.text
    assert resp.headers["content-type"] == PROBLEM


async def test_a_limited_admin_key_cannot_act_on_the_org(client: httpx.AsyncClient) -> None:
    owner, member, allowed, _ = await _org_with_two_spaces(client)
    limited = key_headers(
        (await create_api_key(client, owner, scopes=["admin"], space_ids=[allowed["id"]]))["key"]
    )
    org = f"/api/v1/orgs/{owner.org_id}"

    _refused(
        await client.patch(
            f"{org}/members/{member.user_id}", json={"role": "admin"}, headers=limited
        )
    )
    _refused(await client.delete(f"{org}/members/{member.user_id}", headers=limited))
    for role in ("owner", "member"):
        _refused(
            await client.post(
                f"{org}/invitations", json={"email": unique_email(), "role": role}, headers=limited
            )
        )
    _refused(await client.get(f"{org}/invitations", headers=limited))
    _refused(await client.get("/api/v1/audit-logs", headers=limited))
    _refused(await client.patch(org, json={"name": "Taken"}, headers=limited))
    _refused(
        await client.put(
            "/api/v1/models/aliases/fast", json={"models": ["local/x"]}, headers=limited
        )
    )

    members = (await client.get(f"{org}/members", headers=owner.headers)).json()["items"]
    assert {m["user_id"]: m["role"] for m in members}[member.user_id] == "member"
    invitations = (await client.get(f"{org}/invitations", headers=owner.headers)).json()
    assert invitations["items"] == []

    # It still owns its space (its creator, the org owner, does): it manages its members,
    # and it sees the org itself with the role member.
    added = await client.post(
        f"/api/v1/spaces/{allowed['id']}/members",
        json={"user_id": member.user_id, "role": "viewer"},
        headers=limited,
    )
    assert added.status_code == 201, added.text
    seen = await client.get(org, headers=limited)
    assert seen.status_code == 200
    assert seen.json()["role"] == "member"


async def test_a_limited_write_key_cannot_list_the_org(client: httpx.AsyncClient) -> None:
    owner, _, allowed, other = await _org_with_two_spaces(client)
    limited = key_headers(
        (await create_api_key(client, owner, scopes=["write"], space_ids=[allowed["id"]]))["key"]
    )
    for path in (
        "/api/v1/api-keys",
        f"/api/v1/orgs/{owner.org_id}/members",
        "/api/v1/providers",
        "/api/v1/models/aliases",
        "/api/v1/models/overrides",
    ):
        _refused(await client.get(path, headers=limited))

    # What it may list is filtered to its spaces.
    spaces = (await client.get("/api/v1/spaces", headers=limited)).json()["items"]
    assert [s["id"] for s in spaces] == [allowed["id"]]
    assert (await client.get(f"/api/v1/spaces/{other['id']}", headers=limited)).status_code == 404


async def test_an_org_wide_key_still_acts_on_the_org(client: httpx.AsyncClient) -> None:
    owner, member, _, _ = await _org_with_two_spaces(client)
    wide = key_headers((await create_api_key(client, owner, scopes=["admin"]))["key"])
    org = f"/api/v1/orgs/{owner.org_id}"

    for path in (
        "/api/v1/api-keys",
        f"{org}/members",
        f"{org}/invitations",
        "/api/v1/providers",
        "/api/v1/models/aliases",
        "/api/v1/audit-logs",
    ):
        resp = await client.get(path, headers=wide)
        assert resp.status_code == 200, (path, resp.text)
    promoted = await client.patch(
        f"{org}/members/{member.user_id}", json={"role": "admin"}, headers=wide
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    invited = await client.post(
        f"{org}/invitations", json={"email": unique_email(), "role": "owner"}, headers=wide
    )
    assert invited.status_code == 201, invited.text
    spaces = (await client.get("/api/v1/spaces", headers=wide)).json()["items"]
    assert {s["name"] for s in spaces} >= {"Allowed", "Other"}

"""Knowledge bases over HTTP: CRUD, validation, roles, and another org's 404s."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import (
    add_space_member,
    create_api_key,
    create_space,
    create_tenant,
    join_by_invitation,
    key_headers,
    personal_space_id,
)
from tests.knowledge.support import KB, make_kb

BASE = "/api/v1/knowledge-bases"


async def test_create_get_list_update_delete(client: httpx.AsyncClient, kb: KB) -> None:
    body = kb.body
    assert body["embedding_model"] == "local"
    assert body["embedding_dim"] == 384
    assert body["chunking"] == {"size": 200, "overlap": 40, "strategy": "structure"}
    headers = kb.tenant.headers

    got = await client.get(kb.url, headers=headers)
    assert got.status_code == 200 and got.json()["name"] == body["name"]

    listed = await client.get(BASE, params={"space_id": kb.space}, headers=headers)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [kb.id]

    patched = await client.patch(
        kb.url, json={"description": "Policies", "name": "policies"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "Policies" and patched.json()["name"] == "policies"

    deleted = await client.delete(kb.url, headers=headers)
    assert deleted.status_code == 204
    assert (await client.get(kb.url, headers=headers)).status_code == 404


async def test_list_is_paginated(client: httpx.AsyncClient) -> None:
    first = await make_kb(client)
    for _ in range(2):
        await make_kb(client, first.tenant)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await client.get(BASE, params=params, headers=first.tenant.headers)
        assert page.status_code == 200
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 == len(set(seen))


async def test_static_model_and_chunking(client: httpx.AsyncClient) -> None:
    kb = await make_kb(
        client,
        embedding_model="local-static",
        chunking={"size": 64, "overlap": 8, "strategy": "fixed"},
    )
    assert kb.body["embedding_dim"] == 256
    assert kb.body["chunking"] == {"size": 64, "overlap": 8, "strategy": "fixed"}


async def test_name_is_unique_per_space(client: httpx.AsyncClient, kb: KB) -> None:
    again = await client.post(
        BASE, json={"name": kb.body["name"], "space_id": kb.space}, headers=kb.tenant.headers
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["field"] == "name"
    other = await make_kb(client, kb.tenant, name="other")
    renamed = await client.patch(
        other.url, json={"name": kb.body["name"]}, headers=kb.tenant.headers
    )
    assert renamed.status_code == 409


async def test_validation_problems_name_the_field(client: httpx.AsyncClient, kb: KB) -> None:
    headers = kb.tenant.headers
    cases = [
        ({"space_id": kb.space}, "name"),
        ({"name": "  ", "space_id": kb.space}, "name"),
        ({"name": "x", "space_id": "nope"}, "space_id"),
        ({"name": "x", "space_id": kb.space, "chunking": {"size": 4}}, "chunking.size"),
        ({"name": "x", "space_id": kb.space, "chunking": {"size": 50, "overlap": 40}}, "chunking"),
        (
            {"name": "x", "space_id": kb.space, "chunking": {"strategy": "magic"}},
            "chunking.strategy",
        ),
        ({"name": "x", "space_id": kb.space, "colour": "red"}, "colour"),
    ]
    for payload, field in cases:
        resp = await client.post(BASE, json=payload, headers=headers)
        assert resp.status_code == 422, (payload, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["field"] == field, (payload, resp.json())


async def test_readers_list_and_search_writers_change(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    space = await create_space(client, owner, name="shared")
    kb = await make_kb(client, owner)
    shared = await client.post(
        BASE, json={"name": "team", "space_id": space["id"]}, headers=owner.headers
    )
    assert shared.status_code == 201
    kb_url = f"{BASE}/{shared.json()['id']}"
    viewer = await join_by_invitation(client, owner, "member")
    await add_space_member(client, owner, space["id"], viewer.user_id, "viewer")

    assert (await client.get(kb_url, headers=viewer.headers)).status_code == 200
    search = await client.post(f"{kb_url}/search", json={"query": "x"}, headers=viewer.headers)
    assert search.status_code == 200
    assert (
        await client.patch(kb_url, json={"description": "x"}, headers=viewer.headers)
    ).status_code == 403
    added = await client.post(
        f"{kb_url}/documents", json={"title": "t", "text": "x"}, headers=viewer.headers
    )
    assert added.status_code == 403
    assert (await client.get(kb.url, headers=viewer.headers)).status_code == 404

    reader_key = key_headers((await create_api_key(client, owner, scopes=["read"]))["key"])
    assert (await client.get(kb_url, headers=reader_key)).status_code == 200
    assert (await client.delete(kb_url, headers=reader_key)).status_code == 403


async def test_another_org_gets_404_everywhere(client: httpx.AsyncClient, kb: KB) -> None:
    added = await kb.add_text("Doc", "Some words about kettles.")
    doc = added.json()["id"]
    other = await create_tenant(client)
    other_space = await personal_space_id(client, other)
    h = other.headers
    urls = [
        ("GET", kb.url, None),
        ("PATCH", kb.url, {"description": "mine"}),
        ("DELETE", kb.url, None),
        ("POST", f"{kb.url}/search", {"query": "kettles"}),
        ("GET", f"{kb.url}/documents", None),
        ("POST", f"{kb.url}/documents", {"title": "t", "text": "x"}),
        ("GET", f"{kb.url}/documents/{doc}", None),
        ("DELETE", f"{kb.url}/documents/{doc}", None),
        ("POST", f"{kb.url}/documents/{doc}/reindex", None),
        ("GET", f"{kb.url}/documents/{doc}/events", None),
        ("POST", f"{BASE}/search", {"query": "kettles", "knowledge_base_ids": [kb.id]}),
    ]
    for method, url, body in urls:
        resp = await client.request(method, url, json=body, headers=h)
        assert resp.status_code == 404, (method, url, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    listed = await client.get(BASE, headers=h)
    assert kb.id not in str(listed.json())
    in_space = await client.get(BASE, params={"space_id": kb.space}, headers=h)
    assert in_space.status_code == 404
    created = await client.post(BASE, json={"name": "x", "space_id": kb.space}, headers=h)
    assert created.status_code == 404
    assert (await client.get(BASE, params={"space_id": other_space}, headers=h)).json()[
        "items"
    ] == []
    # A's document is untouched.
    assert (await kb.document(doc))["title"] == "Doc"

"""The store through the HTTP API: TTLs, spaces and organisations, roles, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import update

from agentdeck.models import StoreItem
from tests.factories import (
    add_space_member,
    create_api_key,
    create_space,
    create_tenant,
    join_by_invitation,
    key_headers,
    personal_space_id,
)

ITEMS = "/api/v1/store/items"


async def _put(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.put(ITEMS, json={"namespace": ["a"], "key": "k", "value": {}, **body},
                            headers=headers)  # fmt: skip


async def _expire_everything(app: Any) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    async with app.state.runtime.sessionmaker() as session:
        await session.execute(
            update(StoreItem).where(StoreItem.expires_at.is_not(None)).values(expires_at=past),
            execution_options={"tenant_bypass": "test: expire items"},
        )
        await session.commit()


async def test_ttl_expires_items_and_reads_refresh_it(client: httpx.AsyncClient, app: Any) -> None:
    tenant = await create_tenant(client)
    h = tenant.headers
    assert (await _put(client, h, key="short", value={"v": 1}, ttl=5)).status_code == 204
    assert (await _put(client, h, key="forever", value={"v": 2})).status_code == 204
    got = await client.get(ITEMS, params={"namespace": "a", "key": "short"}, headers=h)
    assert got.status_code == 200 and got.json()["value"] == {"v": 1}

    await _expire_everything(app)
    gone = await client.get(ITEMS, params={"namespace": "a", "key": "short"}, headers=h)
    assert gone.status_code == 404
    found = await client.post(f"{ITEMS}/search", json={"namespace_prefix": ["a"]}, headers=h)
    assert [i["key"] for i in found.json()["items"]] == ["forever"]
    listed = await client.post("/api/v1/store/namespaces", json={}, headers=h)
    assert listed.json()["namespaces"] == [["a"]]
    # a put after expiry makes a new item
    assert (await _put(client, h, key="short", value={"v": 3}, ttl=5)).status_code == 204
    again = await client.get(ITEMS, params={"namespace": "a", "key": "short"}, headers=h)
    assert again.json()["value"] == {"v": 3}


async def test_another_orgs_space_is_404(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    space = await personal_space_id(client, owner)
    assert (await _put(client, owner.headers, value={"secret": True})).status_code == 204
    stranger = await create_tenant(client)
    params = {"namespace": "a", "key": "k", "space_id": space}
    for resp in (
        await client.get(ITEMS, params=params, headers=stranger.headers),
        await client.post(
            f"{ITEMS}/search", params={"space_id": space}, json={}, headers=stranger.headers
        ),
        await client.post(
            "/api/v1/store/namespaces",
            params={"space_id": space},
            json={},
            headers=stranger.headers,
        ),
        await client.put(
            ITEMS,
            params={"space_id": space},
            json={"namespace": ["a"], "key": "k", "value": {}},
            headers=stranger.headers,
        ),
        await client.request(
            "DELETE",
            ITEMS,
            params={"space_id": space},
            json={"namespace": ["a"], "key": "k"},
            headers=stranger.headers,
        ),
    ):
        assert resp.status_code == 404, resp.text
    # the stranger's own store is separate: same namespace and key, nothing there
    mine = await client.get(ITEMS, params={"namespace": "a", "key": "k"}, headers=stranger.headers)
    assert mine.status_code == 404
    still = await client.get(ITEMS, params={"namespace": "a", "key": "k"}, headers=owner.headers)
    assert still.json()["value"] == {"secret": True}


async def test_who_may_write(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    team = await create_space(client, owner)
    viewer = await join_by_invitation(client, owner)
    await add_space_member(client, owner, team["id"], viewer.user_id, role="viewer")
    params = {"space_id": team["id"]}
    body = {"namespace": ["a"], "key": "k", "value": {"x": 1}}
    assert (
        await client.put(ITEMS, params=params, json=body, headers=owner.headers)
    ).status_code == 204
    refused = await client.put(ITEMS, params=params, json=body, headers=viewer.headers)
    assert refused.status_code == 403
    read = await client.get(ITEMS, params={**params, "namespace": "a", "key": "k"},
                            headers=viewer.headers)  # fmt: skip
    assert read.status_code == 200
    read_key = key_headers((await create_api_key(client, owner, scopes=["read"]))["key"])
    assert (await client.put(ITEMS, params=params, json=body, headers=read_key)).status_code == 403


async def test_bad_input(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    h = tenant.headers
    dotted = await client.put(
        ITEMS, json={"namespace": ["a.b"], "key": "k", "value": {}}, headers=h
    )
    assert dotted.status_code == 422 and dotted.json()["field"].startswith("namespace")
    assert (await _put(client, h, ttl=-1)).status_code == 422
    bad_filter = await client.post(f"{ITEMS}/search", json={"filter": {"x": {"$regex": "a"}}},
                                   headers=h)  # fmt: skip
    assert (await _put(client, h, value={"x": "a"})).status_code == 204
    bad_filter = await client.post(f"{ITEMS}/search", json={"filter": {"x": {"$regex": "a"}}},
                                   headers=h)  # fmt: skip
    assert bad_filter.status_code == 422 and bad_filter.json()["field"] == "filter"
    ops = await client.post(f"{ITEMS}/search", json={"filter": {"x": {"$ne": "b"}}}, headers=h)
    assert [i["key"] for i in ops.json()["items"]] == ["k"]

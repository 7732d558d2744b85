"""`client.store` of the official langgraph-sdk against agentdeck over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError

from tests.factories import create_api_key, create_space, create_tenant, personal_space_id


async def test_store_round_trip_through_langgraph_sdk(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=30) as http:
        tenant = await create_tenant(http)
        key = (await create_api_key(http, tenant, scopes=["write"]))["key"]
    client = get_client(url=f"{served}/api/v1", api_key=key)
    store = client.store
    try:
        await store.put_item(["users", "ada"], "prefs", {"theme": "dark", "lang": "en"})
        await store.put_item(
            ["users", "ada", "memories"], "m1", {"text": "Ada likes green tea"}, index=["text"]
        )
        await store.put_item(
            ["users", "ada", "memories"], "m2", {"text": "Ada's printer is on fire"}, index=["text"]
        )
        await store.put_item(["users", "bob"], "prefs", {"theme": "light"}, ttl=30)

        item = await store.get_item(["users", "ada"], "prefs")
        assert item["namespace"] == ["users", "ada"] and item["key"] == "prefs"
        assert item["value"] == {"theme": "dark", "lang": "en"}
        assert item["created_at"] and item["updated_at"]

        found = await store.search_items(["users"], filter={"theme": "dark"})
        assert [(i["namespace"], i["key"]) for i in found["items"]] == [(["users", "ada"], "prefs")]
        paged = await store.search_items(["users"], limit=2, offset=0)
        rest = await store.search_items(["users"], limit=2, offset=2)
        keys = {(tuple(i["namespace"]), i["key"]) for i in paged["items"] + rest["items"]}
        assert len(paged["items"]) == 2 and len(keys) == 4

        ranked = await store.search_items(["users", "ada", "memories"], query="green tea")
        assert ranked["items"][0]["key"] == "m1"
        assert ranked["items"][0]["score"] > ranked["items"][1]["score"]

        spaces = await store.list_namespaces(prefix=["users"])
        assert sorted(spaces["namespaces"]) == [
            ["users", "ada"], ["users", "ada", "memories"], ["users", "bob"],
        ]  # fmt: skip
        shallow = await store.list_namespaces(prefix=["users"], max_depth=2)
        assert sorted(shallow["namespaces"]) == [["users", "ada"], ["users", "bob"]]
        assert (await store.list_namespaces(suffix=["memories"]))["namespaces"] == [
            ["users", "ada", "memories"]
        ]

        await store.put_item(["users", "ada"], "prefs", {"theme": "light"})
        assert (await store.get_item(["users", "ada"], "prefs"))["value"] == {"theme": "light"}
        await store.delete_item(["users", "ada"], "prefs")
        with pytest.raises(NotFoundError):
            await store.get_item(["users", "ada"], "prefs")
    finally:
        await client.aclose()


async def test_a_key_limited_to_one_space_sees_only_that_space(served: str) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=30) as http:
        tenant = await create_tenant(http)
        team = await create_space(http, tenant.headers, name="team")
        mine = await personal_space_id(http, tenant)
        personal = get_client(
            url=f"{served}/api/v1",
            api_key=(await create_api_key(http, tenant, scopes=["write"]))["key"],
        )
        limited = get_client(
            url=f"{served}/api/v1",
            api_key=(await create_api_key(http, tenant, scopes=["write"], space_ids=[team["id"]]))[
                "key"
            ],
        )
    try:
        await personal.store.put_item(["notes"], "n", {"where": "personal"})
        await limited.store.put_item(["notes"], "n", {"where": "team"})
        assert (await limited.store.get_item(["notes"], "n"))["value"] == {"where": "team"}
        assert (await personal.store.get_item(["notes"], "n"))["value"] == {"where": "personal"}
        # the same namespace and key, another space: the team key cannot name the personal one
        with pytest.raises(NotFoundError):
            await limited.store.search_items(["notes"], params={"space_id": mine})
        team_items = await personal.store.search_items(["notes"], params={"space_id": team["id"]})
        assert [i["value"] for i in team_items["items"]] == [{"where": "team"}]
    finally:
        await personal.aclose()
        await limited.aclose()

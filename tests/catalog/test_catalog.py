from __future__ import annotations

import httpx

from tests.factories import create_api_key, create_tenant


async def _provider(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **over: object
) -> None:
    body = {
        "name": name,
        "kind": "openai",
        "api_key": "sk-test-key-123456",
        "models": ["gpt-4o-mini"],
        **over,
    }
    resp = await client.post("/api/v1/providers", json=body, headers=headers)
    assert resp.status_code == 201, resp.text


async def test_models_list_local_and_provider_models_with_prices(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    empty = await client.get("/api/v1/models", headers=tenant.headers)
    assert empty.status_code == 200
    assert [m["id"] for m in empty.json()["items"]] == ["local/smollm2-135m-instruct"]
    await _provider(client, tenant.headers, "openai")
    items = {
        m["id"]: m
        for m in (await client.get("/api/v1/models", headers=tenant.headers)).json()["items"]
    }
    gpt = items["openai/gpt-4o-mini"]
    assert gpt["input_price_per_mtok"] and gpt["input_price_per_mtok"] > 0  # from genai-prices
    assert gpt["capabilities"]["json_schema"] is True and gpt["context_window"]
    put = await client.put(
        "/api/v1/models/overrides",
        json={
            "model": "openai/gpt-4o-mini",
            "input_price_per_mtok": 1.5,
            "output_price_per_mtok": 2.5,
            "context_window": 4096,
        },
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    items = {
        m["id"]: m
        for m in (await client.get("/api/v1/models", headers=tenant.headers)).json()["items"]
    }
    assert items["openai/gpt-4o-mini"]["input_price_per_mtok"] == 1.5
    assert items["openai/gpt-4o-mini"]["context_window"] == 4096
    assert items["openai/gpt-4o-mini"]["overridden"] is True
    gone = await client.delete(
        "/api/v1/models/overrides", params={"model": "openai/gpt-4o-mini"}, headers=tenant.headers
    )
    assert gone.status_code == 204


async def test_aliases_put_get_delete_and_validation(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _provider(client, tenant.headers, "primary")
    await _provider(
        client, tenant.headers, "backup", kind="anthropic", models=["claude-3-5-haiku-latest"]
    )
    chain = ["primary/gpt-4o-mini", "backup/claude-3-5-haiku-latest"]
    put = await client.put(
        "/api/v1/models/aliases/fast",
        json={"models": chain, "strategy": "cheapest"},
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["models"] == chain and put.json()["strategy"] == "cheapest"
    replaced = await client.put(
        "/api/v1/models/aliases/fast", json={"models": chain[:1]}, headers=tenant.headers
    )
    assert replaced.json()["models"] == chain[:1] and replaced.json()["strategy"] == "ordered"
    listed = await client.get("/api/v1/models/aliases", headers=tenant.headers)
    assert [a["name"] for a in listed.json()["items"]] == ["fast"]
    bad = await client.put(
        "/api/v1/models/aliases/fast", json={"models": ["nope/x"]}, headers=tenant.headers
    )
    assert bad.status_code == 422 and bad.json()["field"] == "models.0"
    bad_name = await client.put(
        "/api/v1/models/aliases/Bad%20Name", json={"models": chain}, headers=tenant.headers
    )
    assert bad_name.status_code == 422 and bad_name.json()["field"] == "alias"
    audit = await client.get("/api/v1/audit-logs?action=model_alias.*", headers=tenant.headers)
    assert len(audit.json()["items"]) == 2
    assert (
        await client.delete("/api/v1/models/aliases/fast", headers=tenant.headers)
    ).status_code == 204
    assert (
        await client.get("/api/v1/models/aliases/fast", headers=tenant.headers)
    ).status_code == 404


async def test_other_org_and_read_key(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    other = await create_tenant(client)
    await _provider(client, owner.headers, "mine")
    await client.put(
        "/api/v1/models/aliases/secret",
        json={"models": ["mine/gpt-4o-mini"]},
        headers=owner.headers,
    )
    assert (
        await client.get("/api/v1/models/aliases/secret", headers=other.headers)
    ).status_code == 404
    assert (
        await client.delete("/api/v1/models/aliases/secret", headers=other.headers)
    ).status_code == 404
    assert "mine/" not in (await client.get("/api/v1/models", headers=other.headers)).text
    assert (await client.get("/api/v1/models/aliases", headers=other.headers)).json()["items"] == []
    # another org cannot point an alias at a provider it does not own
    stolen = await client.put(
        "/api/v1/models/aliases/x", json={"models": ["mine/gpt-4o-mini"]}, headers=other.headers
    )
    assert stolen.status_code == 422
    key = await create_api_key(client, owner, scopes=["read"])
    denied = await client.put(
        "/api/v1/models/aliases/y",
        json={"models": ["mine/gpt-4o-mini"]},
        headers={"X-Api-Key": key["key"]},
    )
    assert denied.status_code == 403

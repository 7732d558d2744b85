"""What the gateway keeps in memory between calls (the org's providers, aliases, overrides
and budgets; this month's spend; queued usage rows) never hides a change: the next call
through /v1 sees it. The upstream is faked at the wire (httpx MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from pydantic_ai import models

from agentdeck.runtime import Runtime
from tests.factories import create_tenant
from tests.llm.llm_wire import openai_completion


@pytest.fixture
def runtime(app: Any) -> Iterator[Runtime]:
    rt: Runtime = app.state.runtime
    saved = (rt.gateway, rt.http_client, rt.llm_model_factory)
    rt.gateway, rt.llm_model_factory = None, None
    with models.override_allow_model_requests(True):
        yield rt
    rt.gateway, rt.http_client, rt.llm_model_factory = saved


@pytest.fixture
def upstream(runtime: Runtime) -> list[dict[str, Any]]:
    """Every request the providers receive: host, bearer key and the model asked for."""
    seen: list[dict[str, Any]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(
            {
                "host": request.url.host,
                "key": request.headers.get("authorization"),
                "model": json.loads(request.content)["model"],
            }
        )
        return openai_completion("ok")

    runtime.http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
    return seen


async def _chat(
    client: httpx.AsyncClient, headers: dict[str, str], text: str, model: str = "smart"
) -> httpx.Response:
    return await client.post(
        "/v1/chat/completions",
        json={"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": text}]},
        headers=headers,
    )


async def _provider(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, host: str, model: str
) -> str:
    resp = await client.post(
        "/api/v1/providers",
        json={"name": name, "kind": "openai", "api_key": f"sk-{name}-" + "k" * 16,
              "base_url": f"http://{host}/v1", "models": [model]},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    provider_id: str = resp.json()["id"]
    return provider_id


async def test_provider_key_alias_and_removals_apply_to_the_next_call(
    client: httpx.AsyncClient, upstream: list[dict[str, Any]]
) -> None:
    tenant = await create_tenant(client)
    headers = tenant.headers
    first = await _provider(client, headers, "up", "one.test", "gpt-4o-mini")
    alias = {"models": ["up/gpt-4o-mini"]}
    assert (
        await client.put("/api/v1/models/aliases/smart", json=alias, headers=headers)
    ).status_code == 200
    assert (await _chat(client, headers, "1")).status_code == 200
    assert upstream[-1] == {"host": "one.test", "key": "Bearer sk-up-" + "k" * 16,
                            "model": "gpt-4o-mini"}  # fmt: skip

    # A new key for the provider is used at once (its decrypted key is cached).
    patched = await client.patch(
        f"/api/v1/providers/{first}", json={"api_key": "sk-rotated-" + "r" * 16}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert (await _chat(client, headers, "2")).status_code == 200
    assert upstream[-1]["key"] == "Bearer sk-rotated-" + "r" * 16

    # The alias moved to another provider: the next call goes there.
    await _provider(client, headers, "two", "two.test", "model-b")
    moved = await client.put(
        "/api/v1/models/aliases/smart", json={"models": ["two/model-b"]}, headers=headers
    )
    assert moved.status_code == 200, moved.text
    assert (await _chat(client, headers, "3")).status_code == 200
    assert upstream[-1]["host"] == "two.test" and upstream[-1]["model"] == "model-b"

    # A disabled provider, then a removed alias, are gone for the next call.
    assert (await _chat(client, headers, "4", model="up/gpt-4o-mini")).status_code == 200
    off = await client.patch(f"/api/v1/providers/{first}", json={"enabled": False}, headers=headers)
    assert off.status_code == 200, off.text
    gone = await _chat(client, headers, "5", model="up/gpt-4o-mini")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"
    deleted = await client.delete("/api/v1/models/aliases/smart", headers=headers)
    assert deleted.status_code == 204
    assert (await _chat(client, headers, "6")).status_code == 404
    assert len(upstream) == 4


async def test_budgets_count_this_process_calls_at_once_and_changes_apply_at_once(
    client: httpx.AsyncClient, upstream: list[dict[str, Any]]
) -> None:
    tenant = await create_tenant(client)
    headers = tenant.headers
    await _provider(client, headers, "up", "one.test", "gpt-4o-mini")
    alias = {"models": ["up/gpt-4o-mini"]}
    assert (
        await client.put("/api/v1/models/aliases/smart", json=alias, headers=headers)
    ).status_code == 200
    # $0.10 a token: a call (11 in, 3 out) costs $1.40; estimated before it at $1.00
    # (about 9 tokens in, max_tokens 1 out).
    prices = {"model": "up/gpt-4o-mini", "input_price_per_mtok": 100_000,
              "output_price_per_mtok": 100_000}  # fmt: skip
    assert (
        await client.put("/api/v1/models/overrides", json=prices, headers=headers)
    ).status_code == 200
    assert (await client.put("/api/v1/budget", json={"monthly_usd": 3}, headers=headers)).json()[
        "spent_usd"
    ] == 0.0

    assert (await _chat(client, headers, "a")).status_code == 200  # 0 + 1.0 fits
    assert (await _chat(client, headers, "b")).status_code == 200  # 1.4 + 1.0 fits
    refused = await _chat(client, headers, "c")  # 2.8 + 1.0 does not, though no row is
    assert refused.status_code == 402, refused.text  # written yet: counted in memory
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert len(upstream) == 2

    # What /budget and /usage answer includes the rows still queued in this process.
    budget = (await client.get("/api/v1/budget", headers=headers)).json()
    assert budget["spent_usd"] == pytest.approx(2.8)
    usage = (await client.get("/api/v1/usage", headers=headers)).json()
    assert usage["total"]["calls"] == 2 and usage["total"]["cost_usd"] == pytest.approx(2.8)

    # A raised limit, then no limit, apply to the next call.
    raised = await client.put("/api/v1/budget", json={"monthly_usd": 4}, headers=headers)
    assert raised.status_code == 200
    assert (await _chat(client, headers, "d")).status_code == 200  # 2.8 + 1.0 <= 4
    assert (await _chat(client, headers, "e")).status_code == 402  # 4.2 + 1.0 > 4
    assert (await client.delete("/api/v1/budget", headers=headers)).status_code == 204
    assert (await _chat(client, headers, "f")).status_code == 200

    # Cheaper prices apply at once too: the override is part of what is cached.
    await client.put("/api/v1/budget", json={"monthly_usd": 6}, headers=headers)
    free = {**prices, "input_price_per_mtok": 0.0, "output_price_per_mtok": 0.0}
    assert (
        await client.put("/api/v1/models/overrides", json=free, headers=headers)
    ).status_code == 200
    for text in ("g", "h", "i"):
        assert (await _chat(client, headers, text)).status_code == 200
    records = (await client.get("/api/v1/usage/records", headers=headers)).json()["items"]
    assert [r["cost_usd"] for r in records] == pytest.approx([0, 0, 0, 1.4, 1.4, 1.4, 1.4])

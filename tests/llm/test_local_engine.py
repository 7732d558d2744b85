"""The offline model's engine, with a fake loader: one load, under the heavy-import lock,
retried after a failure; and the default length. The decoder's own behaviour (end of turn,
repetition penalty) is in `test_llama_decoder.py`; the real model runs in
`test_local_chat_api.py` and `test_model_host.py` (marked local_model)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from typing import Any, cast

import pytest
from pydantic_ai.messages import ModelRequest, UserPromptPart
from pydantic_ai.models import ModelRequestParameters

from agentdeck.kit.imports import heavy_lock
from agentdeck.llm.local import DEFAULT_MAX_NEW_TOKENS, LocalModel
from agentdeck.modelhost.smollm2 import LoadedModel, LocalEngine
from agentdeck.rag.embeddings import LocalMiniLM


def _held_elsewhere() -> bool:
    """True when some thread other than a fresh one holds the heavy lock."""
    result: list[bool] = []

    def probe() -> None:
        free = heavy_lock().acquire(blocking=False)
        if free:
            heavy_lock().release()
        result.append(not free)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result[0]


class CountingLoader:
    def __init__(self, failures: int = 0) -> None:
        self.calls = 0
        self.failures = failures
        self.under_lock: list[bool] = []

    def __call__(self) -> LoadedModel:
        self.calls += 1
        self.under_lock.append(_held_elsewhere())
        if self.calls <= self.failures:
            raise KeyError("accelerate")  # what a concurrent transformers import raised
        return cast(LoadedModel, object())  # the engine keeps it; nothing here generates


async def test_concurrent_first_loads_load_once_under_the_heavy_lock() -> None:
    loader = CountingLoader()
    engine = LocalEngine(loader=loader)
    await asyncio.gather(*(engine.warm() for _ in range(4)))
    assert loader.calls == 1 and loader.under_lock == [True]


async def test_a_failed_load_is_not_kept() -> None:
    loader = CountingLoader(failures=1)
    engine = LocalEngine(loader=loader)
    with pytest.raises(KeyError):
        await engine.warm()
    await engine.warm()
    await engine.warm()
    assert loader.calls == 2


class _RecordingMiniLM(LocalMiniLM):
    def __init__(self) -> None:
        super().__init__()
        self.under_lock: list[bool] = []

    def load(self) -> Any:
        self.under_lock.append(_held_elsewhere())
        return _Encoder()


class _Encoder:
    def encode(self, texts: list[str], **_: Any) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]


async def test_the_embedder_and_the_chat_model_load_under_one_lock() -> None:
    """The warm-up and the first ingestion imported transformers in two threads at once
    (issue 11 item 15): both loads now hold the same process-wide lock."""
    loader = CountingLoader()
    embedder = _RecordingMiniLM()
    await asyncio.gather(LocalEngine(loader=loader).warm(), embedder.embed(["hello"]))
    assert loader.under_lock == [True] and embedder.under_lock == [True]


class _FakeEngine(LocalEngine):
    def __init__(self) -> None:
        super().__init__()
        self.max_tokens: list[int] = []

    async def generate(
        self, chat: list[dict[str, str]], max_new_tokens: int, temperature: float | None
    ) -> AsyncGenerator[tuple[str, int, int]]:
        self.max_tokens.append(max_new_tokens)
        yield "Bonjour !", 3, 2
        yield "", 3, 2


async def test_a_request_without_max_tokens_gets_the_default_length() -> None:
    engine = _FakeEngine()
    model = LocalModel(engine=engine)
    messages = [ModelRequest(parts=[UserPromptPart(content="Say hello in French")])]
    response = await model.request(messages, None, ModelRequestParameters())
    await model.request(messages, {"max_tokens": 12}, ModelRequestParameters())
    assert engine.max_tokens == [DEFAULT_MAX_NEW_TOKENS, 12]
    assert response.parts[0].content == "Bonjour !"  # type: ignore[union-attr]

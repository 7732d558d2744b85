"""Helpers shared by the LLM gateway tests (fakes, provider configs, a mock router)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from pydantic_ai.models import Model

from agentdeck.llm import ProviderConfig

OPENAI_KEY = "sk-test-SECRET0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-SECRET0123456789abcdef"


@dataclass
class FakeSleep:
    """Records requested sleeps instead of sleeping."""

    calls: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def openai_provider(name: str = "oa", models_: list[str] | None = None) -> ProviderConfig:
    return ProviderConfig(
        id="p-" + name,
        name=name,
        kind="openai",
        api_key=OPENAI_KEY,
        base_url="http://mock.test/v1",
        models=models_ or [],
    )


def anthropic_provider(name: str = "an") -> ProviderConfig:
    return ProviderConfig(
        id="p-" + name,
        name=name,
        kind="anthropic",
        api_key=ANTHROPIC_KEY,
        base_url="http://mock.test",
    )


@dataclass
class Router:
    """A MockTransport handler: answers are queued per model name (or '*')."""

    answers: dict[str, list[Callable[[dict[str, Any]], Any]]] = field(default_factory=dict)
    requests: list[httpx2.Request] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def add(self, model: str, *answers: Callable[[dict[str, Any]], Any]) -> None:
        self.answers.setdefault(model, []).extend(answers)

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        body = json.loads(request.content) if request.content else {}
        self.bodies.append(body)
        queue = self.answers.get(body.get("model", "*")) or self.answers.get("*") or []
        if not queue:
            return httpx2.Response(500, json={"error": {"message": "no answer queued"}})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        result = answer(body)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, httpx2.Response)
        return result


FactoryMap = dict[str, Callable[[str], Model]]


def factory_from(models_by_provider: FactoryMap) -> Callable[[ProviderConfig, str], Model]:
    """A model factory returning the fake registered for the provider's name."""

    def factory(provider: ProviderConfig, model: str) -> Model:
        return models_by_provider[provider.name](model)

    return factory

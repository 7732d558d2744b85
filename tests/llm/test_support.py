"""Retry classification, Retry-After parsing, caches and the catalog."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from pydantic_ai.exceptions import ModelHTTPError

from agentdeck.llm import InMemoryTTLCache, ModelOverride, ProviderConfig, RedisResponseCache
from agentdeck.llm._retry import backoff_delay, classify, parse_retry_after
from agentdeck.llm.catalog import Catalog
from agentdeck.llm.errors import redact


def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2030, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(90)


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(429, "rate_limit", True), (503, "server", True), (504, "timeout", True),
     (400, "bad_request", False), (401, "bad_request", False)],
)  # fmt: skip
def test_classify_http_errors(status: int, kind: str, retryable: bool) -> None:
    failure = classify(ModelHTTPError(status, "m", None, headers={"retry-after": "1"}))
    assert (failure.kind, failure.retryable, failure.http_status) == (kind, retryable, status)
    assert failure.retry_after == 1.0
    assert classify(TimeoutError()).kind == "timeout"


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [max(backoff_delay(n, 0.5, 4.0, rng) for _ in range(200)) for n in range(6)]
    assert delays[0] <= 0.5 and 1.0 < delays[2] <= 2.0 and delays[5] <= 4.0


def test_redact_removes_configured_and_key_shaped_secrets() -> None:
    text = redact("bad key sk-abc123456789 and mysecretvalue", ["mysecretvalue"])
    assert "sk-abc" not in text and "mysecretvalue" not in text


async def test_in_memory_cache_expires_and_evicts() -> None:
    now = [0.0]
    cache = InMemoryTTLCache(max_entries=2, clock=lambda: now[0])
    await cache.set("a", "1", ttl=10)
    await cache.set("b", "2", ttl=10)
    assert await cache.get("a") == "1"
    await cache.set("c", "3", ttl=10)  # evicts b, the least recently used
    assert await cache.get("b") is None and await cache.get("c") == "3"
    now[0] = 11
    assert await cache.get("a") is None


async def test_redis_cache_prefixes_and_sets_ttl() -> None:
    class FakeRedis:
        def __init__(self) -> None:
            self.data: dict[str, Any] = {}

        async def get(self, name: str) -> Any:
            return self.data.get(name, (None,))[0]

        async def set(self, name: str, value: str, ex: int | None = None) -> Any:
            self.data[name] = (value.encode(), ex)

    fake = FakeRedis()
    cache = RedisResponseCache(fake, prefix="t:")
    await cache.set("k", "v", ttl=5)
    assert fake.data == {"t:k": (b"v", 5)}
    assert await cache.get("k") == "v" and await cache.get("missing") is None


def test_catalog_prices_context_and_overrides() -> None:
    provider = ProviderConfig(id="1", name="oa", kind="openai")
    info = Catalog().info(provider, "gpt-4o-mini")
    assert (info.input_price, info.output_price, info.context_window) == (0.15, 0.6, 128000)
    assert info.capabilities.tools and info.capabilities.json_schema
    custom = Catalog({"oa/gpt-4o-mini": ModelOverride(input_price=1.0, context_window=999)})
    changed = custom.info(provider, "gpt-4o-mini")
    assert (changed.input_price, changed.output_price, changed.context_window) == (1.0, 0.6, 999)
    assert Catalog.cost(info, 1_000_000, 0, cached_tokens=1_000_000) == pytest.approx(0.075)
    local = Catalog().info(ProviderConfig(id="l", name="local", kind="local"), "x")
    assert local.input_price == 0.0 and not local.capabilities.tools

"""The exact-match response cache: per org, in the database or in Redis; a hit costs 0."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentdeck.gateway.service import DbResponseCache
from agentdeck.llm import RedisResponseCache
from agentdeck.runtime import Runtime
from tests.factories import create_tenant


@pytest.fixture
def counted(app: Any) -> Iterator[list[str]]:
    """The offline model, counting how often it is really called."""
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    rt: Runtime = app.state.runtime
    calls: list[str] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append("call")
        return ModelResponse(parts=[TextPart(f"answer {len(calls)}")])

    saved = (rt.gateway, rt.llm_model_factory)
    rt.gateway, rt.llm_model_factory = None, lambda provider, model: FunctionModel(reply)
    yield calls
    rt.gateway, rt.llm_model_factory = saved


async def _ask(
    client: httpx.AsyncClient, headers: dict[str, str], text: str, **extra: Any
) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/llm/chat",
        json={"messages": [{"role": "user", "content": text}], **extra},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_identical_call_hits_the_cache_and_costs_nothing(
    client: httpx.AsyncClient, counted: list[str]
) -> None:
    tenant = await create_tenant(client)
    first = await _ask(client, tenant.headers, "same question")
    second = await _ask(client, tenant.headers, "same question")
    assert counted == ["call"] and second["message"] == first["message"] and second["cache_hit"]
    other = await _ask(client, tenant.headers, "same question", temperature=0.5)
    assert len(counted) == 2 and not other["cache_hit"]  # parameters are part of the key
    skipped = await _ask(client, tenant.headers, "same question", cache=False)
    assert len(counted) == 3 and not skipped["cache_hit"]
    records = (await client.get("/api/v1/usage/records", headers=tenant.headers)).json()["items"]
    hits = [r for r in records if r["cache_hit"]]
    assert len(records) == 4 and len(hits) == 1 and hits[0]["cost_usd"] == 0.0


async def test_cache_never_crosses_organisations(
    client: httpx.AsyncClient, counted: list[str]
) -> None:
    a, b = await create_tenant(client), await create_tenant(client)
    await _ask(client, a.headers, "shared words")
    answer = await _ask(client, b.headers, "shared words")
    assert len(counted) == 2 and not answer["cache_hit"]


async def test_db_cache_expires_and_ignores_keys_without_org(runtime_app: Runtime) -> None:
    cache = DbResponseCache(runtime_app.sessionmaker)
    org = await _org_id(runtime_app)
    await cache.set(f"{org}:abc", "value", ttl=60)
    assert await cache.get(f"{org}:abc") == "value"
    await cache.set(f"{org}:abc", "newer", ttl=60)
    assert await cache.get(f"{org}:abc") == "newer"
    await cache.set(f"{org}:old", "stale", ttl=-1)
    assert await cache.get(f"{org}:old") is None
    await cache.set("-:nokey", "x", ttl=60)
    assert await cache.get("-:nokey") is None


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
async def test_redis_cache_round_trip_with_ttl() -> None:
    cache = RedisResponseCache.from_url(
        "redis://127.0.0.1:6379/0", prefix=f"agentdeck-test:{uuid.uuid4().hex}:"
    )
    await cache.set("org:key", '{"message": "hi"}', ttl=30)
    assert await cache.get("org:key") == '{"message": "hi"}'
    assert await cache.get("org:missing") is None


@pytest.fixture
def runtime_app(app: Any) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


async def _org_id(rt: Runtime) -> uuid.UUID:
    from sqlalchemy import select

    from agentdeck.models import Organization

    async with rt.sessionmaker() as session:
        org = (await session.execute(select(Organization.id).limit(1))).scalar_one_or_none()
    if org is None:
        raise AssertionError("the suite has created no organisation yet")
    return org


async def test_purge_job_deletes_expired_entries(runtime_app: Runtime) -> None:
    from sqlalchemy import select

    from agentdeck.gateway.tasks import purge_cache
    from agentdeck.models import Job, LLMCacheEntry
    from agentdeck.worker.loop import JobContext

    org = await _org_id(runtime_app)
    cache = DbResponseCache(runtime_app.sessionmaker)
    await cache.set(f"{org}:expired-{uuid.uuid4().hex[:8]}", "x", ttl=-5)
    await purge_cache(
        JobContext(job=Job(kind="llm.cache_purge"), sessionmaker=runtime_app.sessionmaker)
    )
    async with runtime_app.sessionmaker() as session:
        rows = await session.execute(
            select(LLMCacheEntry.key)
            .where(LLMCacheEntry.key.startswith("expired-"))
            .execution_options(tenant_bypass="test")
        )
    assert rows.all() == []


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_db_cache_misses_without_a_query_and_finds_other_processes_entries(
    runtime_app: Runtime,
) -> None:
    from sqlalchemy import event

    value_reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT llm_cache.value"):
            value_reads.append(statement)

    org = await _org_id(runtime_app)
    ours, theirs = Ticks(), Ticks()
    here = DbResponseCache(runtime_app.sessionmaker, monotonic=ours)
    there = DbResponseCache(runtime_app.sessionmaker, monotonic=theirs)  # another process
    first, second = f"{org}:first-{uuid.uuid4().hex[:8]}", f"{org}:second-{uuid.uuid4().hex[:8]}"
    engine = runtime_app.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        await there.set(first, "1", ttl=60)
        assert await here.get(first) == "1", "found by the first read of the index"
        assert len(value_reads) == 1
        assert await here.get(f"{org}:never-written") is None
        await there.set(second, "2", ttl=60)
        assert await there.get(second) == "2", "a process knows its own writes at once"
        assert await here.get(second) is None and len(value_reads) == 2, "a miss: no query"
        ours.now += 2.0  # the index is refreshed: the other process's entry is found
        assert await here.get(second) == "2" and len(value_reads) == 3
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_db_cache_gives_up_the_index_beyond_max_keys(runtime_app: Runtime) -> None:
    org = await _org_id(runtime_app)
    cache = DbResponseCache(runtime_app.sessionmaker, max_keys=1)
    keys = [f"{org}:many-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    await cache.set_many([(key, key[-8:], 60) for key in keys])
    other = DbResponseCache(runtime_app.sessionmaker, max_keys=1)
    assert [await other.get(key) for key in keys] == [key[-8:] for key in keys]

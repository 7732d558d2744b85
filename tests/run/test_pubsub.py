"""The relay between processes: its wire format, and live deltas from a worker elsewhere.

"Another process" is a second runtime with its own database engine, hence its own broker:
only the relay (Redis pub/sub, or PostgreSQL NOTIFY) can carry its `message.delta` tokens
to the API's SSE stream, since deltas are never stored. The Redis cases need the server at
127.0.0.1:6379; the PostgreSQL ones AGENTDECK_TEST_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agentdeck.app import build_runtime, build_worker
from agentdeck.config import Settings
from agentdeck.run.events.bus import REPLAY, Broker, StreamItem
from agentdeck.run.events.relay import Relay, decode, encode, relay_for
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from agentdeck.runtime import Runtime
from tests.engine.conftest import FakeLLM
from tests.run.conftest import Org

REDIS_URL = "redis://127.0.0.1:6379/0"
RUN = str(uuid.uuid4())


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


def _is_pg() -> bool:
    return (os.environ.get("AGENTDECK_TEST_DATABASE_URL") or "").startswith("postgresql")


TRANSPORTS = [
    pytest.param("redis", id="redis", marks=pytest.mark.skipif(not _redis_up(), reason="no Redis")),
    pytest.param("postgres", id="postgres", marks=pytest.mark.skipif(not _is_pg(), reason="no PG")),
]


def test_items_round_trip_and_own_messages_are_dropped() -> None:
    item = StreamItem(RUN, "step.completed", {"node": "a", "output": [1, "é"]}, 4)
    (payload,) = encode(item, "me", 7900)
    assert decode(payload, "other") == item
    assert decode(payload, "me") is None
    assert decode("not json", "other") is None
    assert decode(json.dumps({"o": "x", "r": RUN, "t": "a", "s": "1"}), "other") is None


def test_long_deltas_are_split_under_the_notify_limit() -> None:
    delta = 'é\n"x' * 5000
    item = StreamItem(RUN, "message.delta", {"node": "m", "delta": delta})
    payloads = list(encode(item, "me", 7900))
    assert len(payloads) > 1 and all(len(p.encode()) <= 7900 for p in payloads)
    parts = [decode(p, "other") for p in payloads]
    assert "".join(p.data["delta"] for p in parts if p) == delta
    assert all(p is not None and p.data["node"] == "m" and p.seq is None for p in parts)
    assert list(encode(item, "me", None)) == [next(iter(encode(item, "me", None)))]


def test_a_large_durable_event_travels_as_a_pointer_to_the_journal() -> None:
    item = StreamItem(RUN, "step.completed", {"output": "x" * 10_000}, 7)
    (payload,) = encode(item, "me", 7900)
    pointer = decode(payload, "other")
    assert pointer is not None and pointer.type == REPLAY and pointer.run_id == RUN
    huge = StreamItem(RUN, "custom.thing", {"blob": "x" * 10_000})
    assert list(encode(huge, "me", 7900)) == []


async def _connected(*relays: Relay) -> None:
    for _ in range(200):
        if all(r.channels.connected for r in relays):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the relay did not connect")


def _relay(transport: str, settings: Settings) -> Relay:
    relay = relay_for(transport, settings.resolved_db_url, REDIS_URL)  # type: ignore[arg-type]
    assert relay is not None
    return relay


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_two_brokers_exchange_items_through_the_relay(
    transport: str, settings: Settings
) -> None:
    a, b = Broker(), Broker()
    relay_a, relay_b = _relay(transport, settings), _relay(transport, settings)
    a.use_relay(relay_a)
    b.use_relay(relay_b)
    tasks = [asyncio.create_task(relay_a.run()), asyncio.create_task(relay_b.run())]
    try:
        await _connected(relay_a, relay_b)
        with b.subscribe(RUN) as queue_b, a.subscribe(RUN) as queue_a:
            assert await b.ready(RUN, 5) and await a.ready(RUN, 5)
            a.publish(StreamItem(RUN, "message.delta", {"node": "m", "delta": "hi"}))
            async with asyncio.timeout(2):
                got = await queue_b.get()
            assert got == StreamItem(RUN, "message.delta", {"node": "m", "delta": "hi"})
            assert queue_a.qsize() == 1  # its own, in memory; the echo is dropped
            await asyncio.sleep(0.2)
            assert queue_a.qsize() == 1 and queue_b.empty()
        assert not b.live(RUN)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert not relay_a.channels.connected


@pytest.fixture
async def api_relay(runtime: Runtime, request: pytest.FixtureRequest) -> AsyncIterator[Relay]:
    """The test API's broker relayed over ``request.param``."""
    relay = _relay(request.param, runtime.settings)
    attach(runtime.engine, relay=relay)
    task = asyncio.create_task(relay.run())
    await _connected(relay)
    yield relay
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    services_for(runtime.engine).broker.use_relay(None)


@contextlib.asynccontextmanager
async def _other_process(settings: Settings, transport: str) -> AsyncIterator[Runtime]:
    llm = settings.llm.model_copy(update={"redis_url": REDIS_URL if transport == "redis" else None})
    other = build_runtime(settings.model_copy(update={"llm": llm}))
    pubsub = "redis" if transport == "redis" else "postgres"
    attach(
        other.engine,
        settings=RunSettings(allow_private_network=True, pubsub=pubsub),
        llm_factory=lambda _ctx: FakeLLM(deltas=["Hel", "lo"]),
    )
    try:
        yield other
    finally:
        await services_for(other.engine).aclose()
        await other.engine.dispose()


@pytest.mark.parametrize("api_relay", TRANSPORTS, indirect=True)
async def test_deltas_of_a_worker_in_another_process_reach_an_sse_client_live(
    api_relay: Relay, runtime: Runtime, settings: Settings, org: Org, client: httpx.AsyncClient
) -> None:
    transport = "redis" if api_relay.prefix.startswith("agentdeck:") else "postgres"
    agent = await org.agent({"name": "talk", "nodes": [{"id": "m", "type": "llm", "prompt": "hi"}]})
    run = await org.start(agent)
    events: list[dict[str, Any]] = []

    async def read_sse() -> None:
        url = f"/api/v1/runs/{run.id}/events"
        async with client.stream("GET", url, headers=org.tenant.headers) as resp:
            assert resp.status_code == 200
            kind = None
            async for line in resp.aiter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append({"type": kind, "data": json.loads(line.removeprefix("data: "))})
                    if kind == "run.completed":
                        return

    reader = asyncio.create_task(read_sse())
    for _ in range(100):  # the API's stream is subscribed before the worker starts
        if api_relay.live(str(run.id)):
            break
        await asyncio.sleep(0.05)
    assert api_relay.live(str(run.id))
    async with _other_process(settings, transport) as other:
        worker = build_worker(other)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            async with asyncio.timeout(20):
                await reader
        finally:
            stop.set()
            await task
    deltas = [e["data"]["delta"] for e in events if e["type"] == "message.delta"]
    assert deltas == ["Hel", "lo"], events
    kinds = [e["type"] for e in events]
    assert kinds.index("message.delta") < kinds.index("step.completed")

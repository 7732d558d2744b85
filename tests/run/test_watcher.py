"""Following runs that another process executes when nothing relays their events.

Two runtimes on one database are two processes as far as the bus is concerned: the API's
(no worker) and the worker's. With the relay off (SQLite's default), the API's clients are
served by the API process's one watcher: waits end, streams finish with every event, a
cancel reaches the worker, and another tenant still gets 404.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentdeck.app import build_runtime, build_worker
from agentdeck.config import Settings
from agentdeck.errors import NotFound
from agentdeck.run import service
from agentdeck.run.events import watcher as watcher_module
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from tests.engine.conftest import FakeLLM
from tests.run.conftest import Org, make_org

CHAIN = {
    "name": "chain",
    "nodes": [
        {"id": "a", "type": "transform", "value": 1},
        {"id": "b", "type": "transform", "value": "{{ steps.a.output + 1 }}", "needs": ["a"]},
    ],
    "output": "{{ steps.b.output }}",
}
SLOW = {"name": "slow", "nodes": [{"id": "ask", "type": "llm", "prompt": "wait"}]}


class _Held(FakeLLM):
    """A model call that returns only when released (or when the run is cancelled)."""

    def __init__(self) -> None:
        super().__init__(deltas=["x"])
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def chat(self, request: Any) -> Any:
        self.entered.set()
        await self.release.wait()
        return await super().chat(request)

    async def stream(self, request: Any, on_delta: Any) -> Any:
        self.entered.set()
        await self.release.wait()
        return await super().stream(request, on_delta)


@pytest.fixture
async def worker_process(settings: Settings) -> AsyncIterator[tuple[Any, _Held]]:
    """A worker on its own runtime (its own engine, so its own bus): another process."""
    runtime = build_runtime(settings)
    model = _Held()
    attach(
        runtime.engine,
        settings=RunSettings(pubsub="off", watch_s=0.05),
        llm_factory=lambda _ctx: model,
    )
    worker = build_worker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield runtime, model
    model.release.set()
    stop.set()
    await task
    await services_for(runtime.engine).aclose()
    await runtime.engine.dispose()


@pytest.fixture
def api(app: Any) -> Any:
    """The API's runtime: no worker of its own, relay off, a fast watcher."""
    attach(app.state.runtime.engine, settings=RunSettings(pubsub="off", watch_s=0.05))
    return app.state.runtime


async def test_waits_and_streams_end_with_every_event_of_a_run_run_elsewhere(
    client: Any, app: Any, api: Any, worker_process: Any
) -> None:
    org: Org = await make_org(client, app)
    agent = await org.agent(CHAIN)
    runs = [await org.start(agent) for _ in range(3)]
    ticks = 0
    real_tick = watcher_module.Watcher.tick

    async def counted(self: Any) -> None:
        nonlocal ticks
        ticks += 1
        await real_tick(self)

    watcher_module.Watcher.tick = counted  # type: ignore[method-assign]
    try:
        waits = [service.wait_for_run(api, r.id, timeout_s=30) for r in runs]
        streams = [_types(api, org, r.id) for r in runs]
        done, *streamed = await asyncio.gather(asyncio.gather(*waits), *streams)
    finally:
        watcher_module.Watcher.tick = real_tick  # type: ignore[method-assign]
    assert [r.status for r in done] == ["completed"] * 3
    assert [r.output for r in done] == [2] * 3
    for types in streamed:
        assert types[0] == "run.started" and types[-1] == "run.completed"
        assert types.count("step.completed") == 2
    assert ticks >= 1  # one watcher served all six clients


async def test_a_cancel_reaches_the_worker_through_the_watcher(
    client: Any, app: Any, api: Any, worker_process: Any
) -> None:
    _runtime, model = worker_process
    org: Org = await make_org(client, app)
    run = await org.start(await org.agent(SLOW))
    await asyncio.wait_for(model.entered.wait(), 30)
    async with api.sessionmaker() as session:
        await service.cancel_run(session, org.principal, run.id)
        await session.commit()
    done = await service.wait_for_run(api, run.id, timeout_s=30)
    assert done.status == "cancelled"


async def test_another_tenant_cannot_follow_the_run(
    client: Any, app: Any, api: Any, worker_process: Any
) -> None:
    org: Org = await make_org(client, app)
    other: Org = await make_org(client, app)
    run = await org.start(await org.agent(CHAIN))
    with pytest.raises(NotFound):
        async for _ in service.stream_events(api, other.principal, run.id):
            pass
    assert (await service.wait_for_run(api, run.id, timeout_s=30)).status == "completed"
    with pytest.raises(NotFound):
        async for _ in service.stream_events(api, other.principal, uuid.uuid4()):
            pass


async def _types(api: Any, org: Org, run_id: uuid.UUID) -> list[str]:
    return [item.type async for item in service.stream_events(api, org.principal, run_id)]

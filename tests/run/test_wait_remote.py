"""`runs.wait` on an API process whose runs a worker in another process executes: the run
may end before the API's subscription to its events is in place, and the wait must still
answer (it reads the status once subscribed instead of trusting the one it created).

The API (uvicorn, no worker) and the worker (its own runtime and event bus) share one
database, as in the scaled mode; on SQLite the API's watcher covers the run, on PostgreSQL
the relay does. The API's wait (and so its subscription) is held back until the worker
has finished the run: without the read, the PostgreSQL case waits for ever.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from agentdeck.run.events import reader
from agentdeck.run.events.bus import STATUS_CHANGED
from agentdeck.run.repository import FINAL, run_by_id
from agentdeck.run.services import services_for
from agentdeck.runtime import Runtime
from tests.approval.conftest import Api, api, worker_runtime  # noqa: F401 - fixtures
from tests.factories import create_tenant, import_agent, personal_space_id

_AGENT = """\
name: quick
nodes:
  - id: a
    type: transform
    value: "{{ inputs.x }}"
"""


async def _finished_elsewhere(runtime: Runtime, run_id: str) -> None:
    """Until the worker's runtime has the run in a final status (its bus says so)."""
    bus = services_for(runtime.engine).broker
    with bus.subscribe(run_id) as queue:
        async with runtime.sessionmaker() as session:
            run = await run_by_id(session, uuid.UUID(run_id))
        if run is not None and run.status in FINAL:
            return
        while (await queue.get()).type != STATUS_CHANGED:
            pass


async def test_a_wait_answers_when_the_run_ended_before_it_subscribed(
    api: Api,  # noqa: F811
    worker_runtime: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wait = reader.wait_until_stopped

    async def late(sessionmaker: Any, run_id: uuid.UUID, **kw: Any) -> str:
        await _finished_elsewhere(worker_runtime, str(run_id))
        return await wait(sessionmaker, run_id, **kw)

    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        tenant = await create_tenant(http)
        space = await personal_space_id(http, tenant)
        await import_agent(http, tenant.headers, space, _AGENT)
        monkeypatch.setattr(reader, "wait_until_stopped", late)
        body = {"assistant_id": "quick", "input": {"x": 7}}
        async with asyncio.timeout(30):  # a missed end would wait for ever
            done = await http.post("/api/v1/runs/wait", json=body, headers=tenant.headers)
        assert done.status_code == 200, done.text
        assert done.json()["output"] == 7
        thread = (await http.post("/api/v1/threads", json={}, headers=tenant.headers)).json()
        async with asyncio.timeout(30):
            on_thread = await http.post(
                f"/api/v1/threads/{thread['thread_id']}/runs/wait", json=body,
                headers=tenant.headers,
            )  # fmt: skip
        assert on_thread.status_code == 200, on_thread.text
        assert on_thread.json()["output"] == 7

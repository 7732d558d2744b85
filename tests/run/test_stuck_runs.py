"""No run wedges (issue 11 items 1-3): templates over HTTP give data or a clear `template`
step error, a job out of attempts fails its run, and a run no worker holds cancels at once.
Each run ends with its thread free again (a new run on it is accepted)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from agentdeck.app import build_worker
from agentdeck.kit.db import utcnow
from agentdeck.models import Job, Run
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from agentdeck.runtime import Runtime
from tests.factories import Tenant, create_agent, create_tenant, personal_space_id

THREADS = "/api/v1/threads"
_BYPASS = {"tenant_bypass": "test"}


async def _tenant_with_agent(client: httpx.AsyncClient, value: Any) -> tuple[Tenant, str]:
    """A tenant and the name of its agent: one transform node `a` whose value is ``value``."""
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    name = f"stuck-{uuid.uuid4().hex[:8]}"
    definition = {"name": name, "nodes": [{"id": "a", "type": "transform", "value": value}]}
    await create_agent(client, tenant.headers, space, definition)
    return tenant, name


async def _thread(client: httpx.AsyncClient, tenant: Tenant) -> str:
    resp = await client.post(THREADS, json={}, headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["thread_id"])


async def _start(
    client: httpx.AsyncClient, tenant: Tenant, thread: str, agent: str, inputs: Any = None
) -> httpx.Response:
    body = {"assistant_id": agent, "input": inputs or {}}
    return await client.post(f"{THREADS}/{thread}/runs", json=body, headers=tenant.headers)


async def _finished(
    client: httpx.AsyncClient, tenant: Tenant, thread: str, run_id: str
) -> dict[str, Any]:
    """The run (agentdeck's shape) once the join endpoint says it stopped."""
    async with asyncio.timeout(60):  # a hang guard, not a timing assertion
        joined = await client.get(f"{THREADS}/{thread}/runs/{run_id}/join", headers=tenant.headers)
    assert joined.status_code == 200, joined.text
    run = await client.get(f"/api/v1/runs/{run_id}", headers=tenant.headers)
    body: dict[str, Any] = run.json()
    return body


async def _thread_is_free(
    client: httpx.AsyncClient, tenant: Tenant, thread: str, agent: str
) -> None:
    got = await client.get(f"{THREADS}/{thread}", headers=tenant.headers)
    assert got.json()["status"] != "busy"
    again = await _start(client, tenant, thread, agent, {"items": [0]})
    assert again.status_code == 200, again.text


# ---- templates through a run -----------------------------------------------------------------


async def test_a_key_named_like_a_method_is_the_input(
    client: httpx.AsyncClient, worker: Any
) -> None:
    tenant, agent = await _tenant_with_agent(
        client, {"items": "{{ inputs.items }}", "keys": "{{ inputs.keys }}"}
    )
    thread = await _thread(client, tenant)
    started = await _start(client, tenant, thread, agent, {"items": [1, 2], "keys": "k"})
    run = await _finished(client, tenant, thread, started.json()["run_id"])
    assert run["status"] == "completed", run["error"]
    assert run["output"] == {"items": [1, 2], "keys": "k"}


@pytest.mark.parametrize("value", ["{{ cycler }}", "{{ inputs.items.append }}"])
async def test_a_value_that_is_not_json_fails_the_run_and_frees_the_thread(
    client: httpx.AsyncClient, worker: Any, value: str
) -> None:
    tenant, agent = await _tenant_with_agent(client, value)
    thread = await _thread(client, tenant)
    started = await _start(client, tenant, thread, agent, {"items": [1]})
    run = await _finished(client, tenant, thread, started.json()["run_id"])
    assert run["status"] == "failed"
    error = run["error"]
    assert error["kind"] == "template" and error["node"] == "a"
    assert error["detail"]["field"] == "value" and "not JSON data" in error["message"]
    await _thread_is_free(client, tenant, thread, agent)


async def test_a_nested_big_loop_fails_with_a_budget_error(
    client: httpx.AsyncClient, worker: Any
) -> None:
    loops = "{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}"
    tenant, agent = await _tenant_with_agent(client, loops)
    thread = await _thread(client, tenant)
    started = await _start(client, tenant, thread, agent)
    run = await _finished(client, tenant, thread, started.json()["run_id"])
    assert run["status"] == "failed"
    assert run["error"]["kind"] == "template" and run["error"]["node"] == "a"
    assert "over budget" in run["error"]["message"]
    await _thread_is_free(client, tenant, thread, agent)


async def test_constant_arithmetic_over_budget_is_a_422_at_import(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    value = "{{ (2 ** 100000) | string }}"
    definition = {"name": "big", "nodes": [{"id": "a", "type": "transform", "value": value}]}
    resp = await client.post(
        "/api/v1/agents", json={"space_id": space, "definition": definition}, headers=tenant.headers
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "nodes[0].value"
    assert "over budget" in resp.json()["errors"][0]["message"]
    source = f'name: big\nnodes:\n  - id: a\n    type: transform\n    value: "{value}"\n'
    imported = await client.post(
        "/api/v1/agents/import",
        params={"space_id": space},
        content=source.encode(),
        headers={**tenant.headers, "Content-Type": "application/yaml"},
    )
    assert imported.status_code == 422, imported.text


# ---- a job out of attempts, a run no worker holds --------------------------------------------


async def _set_job(runtime: Runtime, run_id: str, **values: Any) -> uuid.UUID:
    """Change the run's `run.execute` job as a worker's history would have left it."""
    async with runtime.sessionmaker() as session:
        jobs = (await session.execute(select(Job).where(Job.kind == "run.execute"))).scalars()
        job = next(j for j in jobs if j.payload.get("run_id") == run_id)
        await session.execute(update(Job).where(Job.id == job.id).values(**values))
        await session.commit()
        return job.id


async def _set_running(runtime: Runtime, run_id: str) -> None:
    async with runtime.sessionmaker() as session:
        stmt = update(Run).where(Run.id == uuid.UUID(run_id))
        values = {"status": "running", "started_at": utcnow()}
        await session.execute(stmt.values(**values).execution_options(**_BYPASS))
        await session.commit()


async def _job_status(runtime: Runtime, job_id: uuid.UUID) -> str:
    async with runtime.sessionmaker() as session:
        return str((await session.execute(select(Job.status).where(Job.id == job_id))).scalar_one())


async def test_a_job_out_of_attempts_fails_its_run_and_frees_the_thread(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, agent = await _tenant_with_agent(client, "{{ inputs.items }}")
    thread = await _thread(client, tenant)
    started = await _start(client, tenant, thread, agent)  # no worker yet: it waits
    run_id = started.json()["run_id"]
    job = await _set_job(runtime, run_id, attempts=Job.max_attempts - 1)  # the next is the last
    async with _running(runtime):
        run = await _finished(client, tenant, thread, run_id)
    assert run["status"] == "failed"
    assert run["error"]["kind"] == "internal"
    assert "RuntimeError: the model configuration is corrupt" in run["error"]["message"]
    assert await _job_status(runtime, job) == "failed"
    events = await client.get(f"/api/v1/runs/{run_id}/events", headers=tenant.headers)
    assert "event: run.failed" in events.text
    await _thread_is_free(client, tenant, thread, agent)


async def test_a_run_whose_worker_died_on_its_last_attempt_fails(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, agent = await _tenant_with_agent(client, "{{ inputs.items }}")
    thread = await _thread(client, tenant)
    run_id = (await _start(client, tenant, thread, agent)).json()["run_id"]
    await _set_running(runtime, run_id)
    expired = utcnow() - dt.timedelta(seconds=30)
    await _set_job(
        runtime, run_id, status="running", attempts=Job.max_attempts, lease_owner="gone:1",
        lease_expires_at=expired,
    )  # fmt: skip
    async with _running(runtime):
        run = await _finished(client, tenant, thread, run_id)
    assert run["status"] == "failed" and run["error"]["kind"] == "internal"
    assert "worker stopped" in run["error"]["message"]
    await _thread_is_free(client, tenant, thread, agent)


class _running:
    """The broken worker, for the span of a `with` block."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stop = asyncio.Event()
        self.previous: Any = None
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        services = services_for(self.runtime.engine)
        self.previous = services.llm_factory

        def broken(_ctx: Any) -> Any:
            raise RuntimeError("the model configuration is corrupt")

        settings = RunSettings(requeue_delay_s=0.1)
        attach(self.runtime.engine, settings=settings, llm_factory=broken)
        self.task = asyncio.create_task(build_worker(self.runtime).run(self.stop))

    async def __aexit__(self, *_exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task
        services_for(self.runtime.engine).llm_factory = self.previous


async def test_cancelling_a_running_run_no_worker_holds_cancels_it_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, agent = await _tenant_with_agent(client, "{{ inputs.items }}")
    thread = await _thread(client, tenant)
    run_id = (await _start(client, tenant, thread, agent)).json()["run_id"]
    await _set_running(runtime, run_id)  # as a worker left it, then died (lease expired)
    expired = utcnow() - dt.timedelta(seconds=30)
    await _set_job(
        runtime, run_id, status="running", attempts=1, lease_owner="gone:1",
        lease_expires_at=expired,
    )  # fmt: skip
    resp = await client.post(f"/api/v1/runs/{run_id}/cancel", headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "cancelled"
    events = await client.get(f"/api/v1/runs/{run_id}/events", headers=tenant.headers)
    assert "event: run.cancelled" in events.text
    await _thread_is_free(client, tenant, thread, agent)


async def test_cancelling_a_run_a_live_worker_holds_asks_that_worker(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, agent = await _tenant_with_agent(client, "{{ inputs.items }}")
    thread = await _thread(client, tenant)
    run_id = (await _start(client, tenant, thread, agent)).json()["run_id"]
    await _set_running(runtime, run_id)
    live = utcnow() + dt.timedelta(minutes=5)
    await _set_job(
        runtime, run_id, status="running", attempts=1, lease_owner="alive:1", lease_expires_at=live
    )
    resp = await client.post(f"/api/v1/runs/{run_id}/cancel", headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "running"  # its worker stops it at its next check
    await _set_job(runtime, run_id, lease_expires_at=utcnow() - dt.timedelta(seconds=1))
    again = await client.post(f"/api/v1/runs/{run_id}/cancel", headers=tenant.headers)
    assert again.json()["status"] == "cancelled"  # the lease ran out: nobody will stop it

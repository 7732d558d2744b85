"""Fixtures of the run suite: tenants with principals and agents, an in-process worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import JSON, Select, select

from agentdeck.app import build_worker
from agentdeck.auth.principal import Principal, scope_for_user
from agentdeck.auth.repository import AuthRepository
from agentdeck.kit.db import transaction
from agentdeck.models import Run, RunEvent, RunStep, Thread
from agentdeck.run import service
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from agentdeck.runtime import Runtime
from tests.engine.conftest import FakeLLM, LocalServer, local_server  # noqa: F401 - fixture
from tests.factories import Tenant, create_agent_row, create_tenant, personal_space_id


@pytest.fixture
def runtime(app: Any) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


async def principal_for(runtime: Runtime, tenant: Tenant) -> Principal:
    async with runtime.sessionmaker() as session:
        scope = await scope_for_user(
            AuthRepository(session), uuid.UUID(tenant.org_id), uuid.UUID(tenant.user_id)
        )
    return Principal(kind="user", user_id=uuid.UUID(tenant.user_id), scope=scope)


class Org:
    """A tenant, its principal and personal space, and a way to add agents."""

    def __init__(self, app: Any, tenant: Tenant, principal: Principal, space: str) -> None:
        self.app, self.tenant, self.principal, self.space = app, tenant, principal, space

    async def agent(self, spec: dict[str, Any]) -> uuid.UUID:
        row = await create_agent_row(self.app, self.tenant.org_id, self.space, spec)
        return uuid.UUID(str(row["id"]))

    async def thread(self) -> uuid.UUID:
        thread = Thread(
            id=uuid.uuid4(), org_id=uuid.UUID(self.tenant.org_id), space_id=uuid.UUID(self.space)
        )
        async with self.app.state.runtime.sessionmaker() as session:
            session.add(thread)
            await session.commit()
        return thread.id

    async def start(self, agent_id: uuid.UUID, **kw: Any) -> Run:
        async with transaction(self.app.state.runtime.sessionmaker) as session:
            return await service.create_run(session, self.principal, agent_id=agent_id, **kw)


async def make_org(client: httpx.AsyncClient, app: Any) -> Org:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    return Org(app, tenant, await principal_for(app.state.runtime, tenant), space)


@pytest.fixture
async def org(client: httpx.AsyncClient, app: Any) -> Org:
    return await make_org(client, app)


@pytest.fixture
def fake_llm() -> FakeLLM:
    return FakeLLM(deltas=["Hel", "lo"])


@pytest.fixture
async def worker(runtime: Runtime, fake_llm: FakeLLM) -> AsyncIterator[Any]:
    """An in-process worker whose runs use ``fake_llm`` and may call 127.0.0.1."""
    settings = RunSettings(allow_private_network=True, requeue_delay_s=0.1)
    attach(runtime.engine, settings=settings, llm_factory=lambda _ctx: fake_llm)
    worker = build_worker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield worker
    stop.set()
    await task
    await services_for(runtime.engine).aclose()


@pytest.fixture(scope="module")
def _agent_holder() -> dict[str, Any]:
    return {}


@pytest.fixture
async def agent(
    client: httpx.AsyncClient, app: Any, _agent_holder: dict[str, Any]
) -> dict[str, Any]:
    """One agent row (of a fresh tenant) per test module, for journal tests' run rows."""
    if "agent" not in _agent_holder:
        tenant = await create_tenant(client)
        space = await personal_space_id(client, tenant)
        spec = {"name": "j", "nodes": [{"id": "a", "type": "transform", "value": 1}]}
        _agent_holder["agent"] = await create_agent_row(app, tenant.org_id, space, spec)
    return _agent_holder["agent"]  # type: ignore[no-any-return]


async def _read(runtime: Runtime, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``stmt`` as another connection sees them (no tenant scope)."""
    async with runtime.sessionmaker() as session:
        rows = await session.execute(stmt.execution_options(tenant_bypass="test"))
        return [tuple(r) for r in rows.all()]


async def stored_steps(runtime: Runtime, run_id: str) -> list[tuple[Any, ...]]:
    """(node id, status) of the run's step rows as another connection sees them."""
    stmt = select(RunStep.node_id, RunStep.status).where(RunStep.run_id == uuid.UUID(run_id))
    return await _read(runtime, stmt.order_by(RunStep.node_id))


async def stored_events(runtime: Runtime, run_id: str) -> list[tuple[Any, ...]]:
    """(seq, type) of the run's event rows as another connection sees them."""
    stmt = select(RunEvent.seq, RunEvent.type).where(RunEvent.run_id == uuid.UUID(run_id))
    return await _read(runtime, stmt.order_by(RunEvent.seq))


async def insert_run(runtime: Runtime, agent: dict[str, Any]) -> uuid.UUID:
    """A bare pending run row of ``agent`` (for journal tests that need a run to exist)."""
    run = Run(
        id=uuid.uuid4(),
        org_id=agent["org_id"],
        space_id=agent["space_id"],
        agent_id=agent["id"],
        agent_version=1,
        output=JSON.NULL,
    )
    async with runtime.sessionmaker() as session:
        session.add(run)
        await session.commit()
    return run.id

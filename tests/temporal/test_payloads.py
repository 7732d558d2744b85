"""Payloads over `temporal.payload_limit_bytes` are stored in agentdeck's database
(`temporal_payloads`) and only referenced from the workflow's history: the run's inputs,
a step's output, an activity's arguments. Workers, the client and the Replayer resolve the
references; the run reads the same as any other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.worker import Replayer

from agentdeck.config import Settings
from agentdeck.models import TemporalPayload
from agentdeck.temporal.payloads import DRIVER, data_converter
from agentdeck.temporal.worker import workflow_runner
from agentdeck.temporal.workflow import RunWorkflow
from tests.engine.conftest import LocalServer
from tests.factories import create_tenant, personal_space_id
from tests.temporal.conftest import API, Org, Served, serve, temporal_settings

LIMIT = 4096
BLOB = "agentdeck " * 4000  # 40 KB: far over the limit, under the API's body limit


@pytest.fixture(scope="module")
async def small_payloads(settings: Settings, temporal_address: str) -> AsyncIterator[Served]:
    limited = temporal_settings(settings, temporal_address, payload_limit_bytes=LIMIT)
    async with serve(limited) as s:
        yield s


@pytest.fixture
async def limited_org(small_payloads: Served) -> AsyncIterator[Org]:
    async with httpx.AsyncClient(base_url=small_payloads.url, timeout=60) as http:
        tenant = await create_tenant(http)
        yield Org(http, tenant, await personal_space_id(http, tenant))


async def test_large_payloads_are_stored_outside_the_history(
    limited_org: Org, small_payloads: Served, temporal_address: str, local_server: LocalServer
) -> None:
    org = limited_org
    agent = await org.agent({"name": "big", "nodes": [
        {"id": "copy", "type": "transform", "value": "{{ inputs.blob }}"},
        {"id": "send", "type": "http", "method": "POST", "needs": ["copy"],
         "url": f"{local_server.url}/big", "json": {"text": "{{ steps.copy.output }}"}},
        {"id": "out", "type": "transform", "needs": ["send"], "value": "{{ steps.copy.output }}"},
    ]})  # fmt: skip
    run = await org.run(agent, {"blob": BLOB})
    assert run["status"] == "completed", run
    assert run["output"] == BLOB
    (body,) = [b for _, path, _, b in local_server.log.calls if path == "/big"]
    assert BLOB.encode() in body  # the activity got its large argument back

    # the history holds references, none of the blob itself
    raw = (
        await (await Client.connect(temporal_address))
        .get_workflow_handle(run["id"])
        .fetch_history()
    )
    referencing = 0
    for event in raw.events:
        data = event.SerializeToString()
        assert BLOB[:400].encode() not in data and len(data) < 2 * LIMIT, event
        referencing += DRIVER.encode() in data  # an ExternalStorageReference naming our driver
    assert referencing >= 3  # the input, the record of `copy`, the argument of `send`, ...
    runtime = small_payloads.app.state.runtime
    async with runtime.sessionmaker() as session:
        count = select(func.count()).where(TemporalPayload.workflow_id == run["id"])
        stored = (await session.execute(count.execution_options(tenant_bypass="test"))).scalar_one()
    assert stored >= 3

    # the Replayer resolves them through the same storage
    replayer = Replayer(
        workflows=[RunWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=data_converter(runtime.sessionmaker, LIMIT),
    )
    await replayer.replay_workflow(raw)

    # the run is its tenant's alone
    other = await create_tenant(org.http)
    for path in ("", "/steps", "/events"):
        resp = await org.http.get(f"{API}/runs/{run['id']}{path}", headers=other.headers)
        assert resp.status_code == 404, (path, resp.text)

"""`http` nodes of real runs obey the network policy (issue 11 items 10, 11, 19): a private
host is refused unless the operator allows it; a header that cannot be sent is a step error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentdeck.app import build_worker
from agentdeck.kit import netguard
from agentdeck.run import service
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from agentdeck.runtime import Runtime
from tests.engine.conftest import LocalServer
from tests.run.conftest import Org


@pytest.fixture
async def guarded_worker(runtime: Runtime) -> AsyncIterator[Any]:
    """A worker with the default run settings: no blanket private-network permission."""
    services = services_for(runtime.engine)
    saved = services.settings
    attach(runtime.engine, settings=RunSettings(requeue_delay_s=0.1))
    worker = build_worker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield worker
    stop.set()
    await task
    services.settings = saved
    await services.aclose()


def _http_agent(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"id": "call", "type": "http", "url": url}
    if headers:
        node["headers"] = headers
    return {"name": "caller", "nodes": [node]}


async def _run(runtime: Runtime, org: Org, spec: dict[str, Any], **inputs: Any) -> Any:
    run = await org.start(await org.agent(spec), inputs=inputs)
    return await service.wait_for_run(runtime, run.id, timeout_s=30)


@pytest.mark.usefixtures("guarded_worker")
async def test_a_private_host_is_refused_unless_on_the_allow_list(
    runtime: Runtime, org: Org, local_server: LocalServer
) -> None:
    refused = await _run(runtime, org, _http_agent(local_server.url + "/x"))
    assert refused.status == "failed"
    assert refused.error["kind"] == "forbidden", refused.error
    assert "ALLOWED_PRIVATE_HOSTS" in refused.error["message"]
    assert local_server.log.calls == []

    port = local_server.url.rsplit(":", 1)[1]
    with netguard.using(netguard.NetworkPolicy.parse([f"127.0.0.1:{port}"])):
        allowed = await _run(runtime, org, _http_agent(local_server.url + "/x"))
    assert allowed.status == "completed", allowed.error
    assert [c[1] for c in local_server.log.calls] == ["/x"]


@pytest.mark.usefixtures("guarded_worker")
@pytest.mark.parametrize(
    "url", ["http://[::7f00:1]/", "http://[64:ff9b::7f00:1]/", "http://192.88.99.1/"]
)
async def test_embedded_loopback_and_the_6to4_relay_are_refused(
    runtime: Runtime, org: Org, url: str
) -> None:
    done = await _run(runtime, org, _http_agent(url))
    assert done.status == "failed"
    assert done.error["kind"] == "forbidden", done.error


@pytest.mark.usefixtures("guarded_worker")
async def test_a_header_that_cannot_be_sent_is_a_step_error(
    runtime: Runtime, org: Org, local_server: LocalServer
) -> None:
    port = local_server.url.rsplit(":", 1)[1]
    spec = _http_agent(local_server.url + "/h", headers={"X-Name": "{{ inputs.name }}"})
    with netguard.using(netguard.NetworkPolicy.parse([f"127.0.0.1:{port}"])):
        done = await _run(runtime, org, spec, name="Zoë")
    assert done.status == "failed"
    assert done.error["kind"] == "invalid_input", done.error
    assert "X-Name" in done.error["message"]
    assert local_server.log.calls == []

"""Run quotas: an org's owners (or the operator) bound runs in flight and runs per minute;
past a bound, creating a run answers 429 problem+json with Retry-After, at once."""

from __future__ import annotations

from typing import Any

import httpx

from agentdeck.run.services import attach
from agentdeck.run.settings import RunSettings
from tests.factories import Tenant, create_agent, create_tenant, personal_space_id

SPEC = {"name": "q", "nodes": [{"id": "a", "type": "transform", "value": 1}]}


async def _tenant_with_agent(client: httpx.AsyncClient, app: Any) -> Tenant:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    await create_agent(client, tenant.headers, space, SPEC)
    return tenant


async def _start(client: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    """A run of agent `q` on a new thread (the test app has no worker: it stays pending)."""
    thread = await client.post("/api/v1/threads", json={}, headers=tenant.headers)
    assert thread.status_code == 200, thread.text
    return await client.post(
        f"/api/v1/threads/{thread.json()['thread_id']}/runs",
        json={"assistant_id": "q", "input": {}},
        headers=tenant.headers,
    )


async def _set(client: httpx.AsyncClient, tenant: Tenant, **quotas: Any) -> httpx.Response:
    return await client.patch(f"/api/v1/orgs/{tenant.org_id}", json=quotas, headers=tenant.headers)


async def test_runs_in_flight_past_the_orgs_quota_get_429(
    client: httpx.AsyncClient, app: Any
) -> None:
    tenant = await _tenant_with_agent(client, app)
    changed = await _set(client, tenant, max_runs_in_flight=2)
    assert changed.status_code == 200 and changed.json()["max_runs_in_flight"] == 2
    assert [(await _start(client, tenant)).status_code for _ in range(2)] == [200, 200]
    refused = await _start(client, tenant)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["retry-after"] == "1"
    assert "2 runs in flight" in refused.json()["detail"]
    other = await _tenant_with_agent(client, app)  # its own org is not limited
    assert (await _start(client, other)).status_code == 200
    assert (await _set(client, tenant, max_runs_in_flight=None)).status_code == 200
    assert (await _start(client, tenant)).status_code == 200  # lifted at once


async def test_runs_per_minute_answer_429_with_the_wait(
    client: httpx.AsyncClient, app: Any
) -> None:
    tenant = await _tenant_with_agent(client, app)
    assert (await _set(client, tenant, max_runs_per_minute=3)).status_code == 200
    assert [(await _start(client, tenant)).status_code for _ in range(3)] == [200] * 3
    refused = await _start(client, tenant)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_the_operators_ceiling_applies_to_every_org(
    client: httpx.AsyncClient, app: Any
) -> None:
    tenant = await _tenant_with_agent(client, app)
    attach(app.state.runtime.engine, settings=RunSettings(quota_runs_in_flight=1))
    try:
        assert (await _start(client, tenant)).status_code == 200
        assert (await _start(client, tenant)).status_code == 429
        # an org's own, looser quota does not lift the operator's
        assert (await _set(client, tenant, max_runs_in_flight=50)).status_code == 200
        assert (await _start(client, tenant)).status_code == 429
    finally:
        attach(app.state.runtime.engine, settings=RunSettings())


async def test_quotas_are_validated_and_another_org_is_404(
    client: httpx.AsyncClient, app: Any
) -> None:
    tenant = await _tenant_with_agent(client, app)
    other = await create_tenant(client)
    bad = await _set(client, tenant, max_runs_in_flight=0)
    assert bad.status_code == 422 and "max_runs_in_flight" in bad.text
    foreign = await client.patch(
        f"/api/v1/orgs/{tenant.org_id}", json={"max_runs_in_flight": 1}, headers=other.headers
    )
    assert foreign.status_code == 404

"""Budgets: the HTTP API for org and space limits, and the guard the gateway calls."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from agentdeck.budget.service import DbBudgetGuard
from agentdeck.llm.errors import BudgetExceeded
from agentdeck.llm.types import CallContext
from agentdeck.runtime import Runtime
from agentdeck.usage.service import DbUsageSink
from tests.factories import (
    Tenant,
    create_api_key,
    create_space,
    create_tenant,
    join_by_invitation,
    key_headers,
    personal_space_id,
    usage_record,
)

MAY = dt.datetime(2030, 5, 15, 12, 0, tzinfo=dt.UTC)
JUNE = dt.datetime(2030, 6, 2, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def runtime(app: Any) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


async def _audit(client: httpx.AsyncClient, who: Tenant) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/audit-logs?action=budget.*", headers=who.headers)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


async def _put(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = "", **body: Any
) -> httpx.Response:
    return await client.put(f"/api/v1/budget{path}", json=body, headers=headers)


async def test_org_budget_lifecycle(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    await DbUsageSink(runtime.sessionmaker).record(usage_record(tenant, cost_usd=2.5))
    empty = await client.get("/api/v1/budget", headers=tenant.headers)
    assert empty.status_code == 200, empty.text
    assert empty.json()["monthly_usd"] is None and empty.json()["remaining_usd"] is None
    assert empty.json()["spent_usd"] == pytest.approx(2.5)
    assert empty.json()["period"] == dt.datetime.now(dt.UTC).strftime("%Y-%m")

    resp = await _put(client, tenant.headers, monthly_usd=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["monthly_usd"], body["warn_at"]) == (10.0, 0.8)
    assert body["remaining_usd"] == pytest.approx(7.5) and body["spaces"] == []
    again = await _put(client, tenant.headers, monthly_usd=20, warn_at=0.5)
    assert again.json()["warn_at"] == 0.5
    assert (await client.get("/api/v1/budget", headers=tenant.headers)).json()["monthly_usd"] == 20

    for bad in (
        {"monthly_usd": -1},
        {"monthly_usd": 5, "warn_at": 1.5},
        {"warn_at": 0.5},
        {"monthly_usd": 5, "extra": 1},
    ):
        assert (await _put(client, tenant.headers, **bad)).status_code == 422, bad

    assert (await client.delete("/api/v1/budget", headers=tenant.headers)).status_code == 204
    assert (await client.get("/api/v1/budget", headers=tenant.headers)).json()[
        "monthly_usd"
    ] is None
    missing = await client.delete("/api/v1/budget", headers=tenant.headers)
    assert missing.status_code == 404
    actions = [e["action"] for e in await _audit(client, tenant)]
    assert actions == ["budget.deleted", "budget.updated", "budget.updated"]


async def test_who_may_set_the_budget(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    read_key = key_headers((await create_api_key(client, owner, scopes=["read"]))["key"])
    admin_key = key_headers((await create_api_key(client, owner, scopes=["admin"]))["key"])
    refused = await _put(client, read_key, monthly_usd=5)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.delete("/api/v1/budget", headers=read_key)).status_code == 403
    assert (await client.get("/api/v1/budget", headers=read_key)).status_code == 200
    assert (await _put(client, admin_key, monthly_usd=5)).status_code == 200

    member = await join_by_invitation(client, owner)
    assert (await _put(client, member.headers, monthly_usd=50)).status_code == 403
    seen = await client.get("/api/v1/budget", headers=member.headers)
    assert seen.status_code == 200 and seen.json()["monthly_usd"] == 5
    admin = await join_by_invitation(client, owner, role="admin")
    assert (await _put(client, admin.headers, monthly_usd=6)).status_code == 200


async def test_space_budgets(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    space = (await create_space(client, tenant))["id"]
    path = f"/spaces/{space}"
    await DbUsageSink(runtime.sessionmaker).record(
        usage_record(tenant, space_id=space, cost_usd=1.0)
    )
    unset = await client.get(f"/api/v1/budget{path}", headers=tenant.headers)
    assert unset.status_code == 200 and unset.json()["monthly_usd"] is None
    assert unset.json()["spent_usd"] == pytest.approx(1.0)

    resp = await _put(client, tenant.headers, path, monthly_usd=4, warn_at=0.9)
    assert resp.status_code == 200, resp.text
    assert resp.json()["space_id"] == space and resp.json()["remaining_usd"] == pytest.approx(3.0)
    listed = (await client.get("/api/v1/budget", headers=tenant.headers)).json()
    assert [s["space_id"] for s in listed["spaces"]] == [space]
    assert listed["monthly_usd"] is None, "a space limit is not an org limit"

    member = await join_by_invitation(client, tenant)
    refused = await _put(client, member.headers, path, monthly_usd=1)
    assert refused.status_code == 404, "a member outside the space cannot see it"
    assert (await client.get("/api/v1/budget", headers=member.headers)).json()["spaces"] == []

    assert (await client.delete(f"/api/v1/budget{path}", headers=tenant.headers)).status_code == 204
    assert (await client.delete(f"/api/v1/budget{path}", headers=tenant.headers)).status_code == 404
    actions = [e["action"] for e in await _audit(client, tenant)]
    assert actions == ["budget.deleted", "budget.updated"]


async def test_another_orgs_budgets_are_invisible(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    a, b = await create_tenant(client), await create_tenant(client)
    a_space = await personal_space_id(client, a)
    await DbUsageSink(runtime.sessionmaker).record(usage_record(a, cost_usd=3.0))
    assert (await _put(client, a.headers, monthly_usd=100)).status_code == 200
    assert (await _put(client, a.headers, f"/spaces/{a_space}", monthly_usd=10)).status_code == 200

    theirs = (await client.get("/api/v1/budget", headers=b.headers)).json()
    assert theirs["monthly_usd"] is None and theirs["spent_usd"] == 0.0 and theirs["spaces"] == []
    b_key = key_headers((await create_api_key(client, b, scopes=["admin"]))["key"])
    for headers in (b.headers, b_key):
        url = f"/api/v1/budget/spaces/{a_space}"
        assert (await client.get(url, headers=headers)).status_code == 404
        assert (await client.put(url, json={"monthly_usd": 0}, headers=headers)).status_code == 404
        assert (await client.delete(url, headers=headers)).status_code == 404
    kept = (await client.get(f"/api/v1/budget/spaces/{a_space}", headers=a.headers)).json()
    assert kept["monthly_usd"] == 10


async def test_guard_refuses_a_call_over_the_org_budget(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    guard = DbBudgetGuard(runtime.sessionmaker)
    ctx = CallContext(org_id=tenant.org_id, user_id=tenant.user_id)
    await guard.check(ctx, 1000.0)  # no budget set: anything goes
    await _put(client, tenant.headers, monthly_usd=1.0, warn_at=1.0)
    await DbUsageSink(runtime.sessionmaker).record(usage_record(tenant, cost_usd=0.75))

    await guard.check(ctx, 0.25)  # exactly at the limit still fits
    with pytest.raises(BudgetExceeded) as caught:
        await guard.check(ctx, 0.26)
    err = caught.value
    assert err.status == 402 and err.type == "llm.budget_exceeded"
    assert err.extra["scope"] == "org" and err.extra["budget_usd"] == 1.0
    assert err.extra["spent_usd"] == pytest.approx(0.75)
    assert "$1.00" in err.detail and "0.7500" in err.detail and "0.2600" in err.detail
    # Last month's spend does not count against this month.
    await DbBudgetGuard(runtime.sessionmaker, clock=lambda: JUNE).check(ctx, 0.9)
    # Another org is not affected, and a call without an org is not checked.
    other = await create_tenant(client)
    await guard.check(CallContext(org_id=other.org_id), 50.0)
    await guard.check(CallContext(), 50.0)


async def test_guard_refuses_a_call_over_a_space_limit(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    space = (await create_space(client, tenant))["id"]
    other_space = await personal_space_id(client, tenant)
    await _put(client, tenant.headers, monthly_usd=100.0)
    await _put(client, tenant.headers, f"/spaces/{space}", monthly_usd=2.0)
    sink = DbUsageSink(runtime.sessionmaker)
    await sink.record(usage_record(tenant, space_id=space, cost_usd=1.5))
    await sink.record(usage_record(tenant, space_id=other_space, cost_usd=10.0))
    guard = DbBudgetGuard(runtime.sessionmaker)

    await guard.check(CallContext(org_id=tenant.org_id, space_id=space), 0.5)
    with pytest.raises(BudgetExceeded) as caught:
        await guard.check(CallContext(org_id=tenant.org_id, space_id=space), 0.6)
    assert caught.value.extra["scope"] == "space"
    assert caught.value.extra["space_id"] == space
    assert caught.value.extra["spent_usd"] == pytest.approx(1.5)
    assert caught.value.to_problem()["status"] == 402
    # The other space has no limit of its own; the org limit still has room.
    await guard.check(CallContext(org_id=tenant.org_id, space_id=other_space), 5.0)


async def test_warning_fires_once_per_period(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    await _put(client, tenant.headers, monthly_usd=10.0, warn_at=0.5)
    await DbUsageSink(runtime.sessionmaker, clock=lambda: MAY).record(
        usage_record(tenant, cost_usd=4.0)
    )
    may = DbBudgetGuard(runtime.sessionmaker, clock=lambda: MAY)
    ctx = CallContext(org_id=tenant.org_id)

    with capture_logs() as logs:
        await may.check(ctx, 0.5)  # 4.5 < 5: below the threshold
        await may.check(ctx, 1.0)  # 5.0: warns
        await may.check(ctx, 2.0)  # already warned in 2030-05
        with pytest.raises(BudgetExceeded):
            await may.check(ctx, 7.0)
    warnings = [e for e in logs if e["event"] == "budget.warning"]
    assert len(warnings) == 1
    assert warnings[0]["period"] == "2030-05" and warnings[0]["org_id"] == tenant.org_id
    entries = [e for e in await _audit(client, tenant) if e["action"] == "budget.warning"]
    assert len(entries) == 1
    assert entries[0]["actor_type"] == "system" and entries[0]["actor_id"] is None
    assert entries[0]["changes"]["period"] == "2030-05"
    assert entries[0]["changes"]["spent_usd"] == pytest.approx(4.0)

    june = DbBudgetGuard(runtime.sessionmaker, clock=lambda: JUNE)
    await june.check(ctx, 6.0)  # a new month: a new warning
    await june.check(ctx, 6.0)
    periods = [
        e["changes"]["period"]
        for e in await _audit(client, tenant)
        if e["action"] == "budget.warning"
    ]
    assert periods == ["2030-06", "2030-05"]


async def test_concurrent_checks_warn_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    await _put(client, tenant.headers, monthly_usd=1.0, warn_at=0.1)
    guard = DbBudgetGuard(runtime.sessionmaker, clock=lambda: MAY)
    ctx = CallContext(org_id=tenant.org_id)
    await asyncio.gather(*(guard.check(ctx, 0.5) for _ in range(5)))
    entries = [e for e in await _audit(client, tenant) if e["action"] == "budget.warning"]
    assert len(entries) == 1

"""Usage records: the database sink, sums per model/day/space/agent, ranges, visibility."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from agentdeck.llm.types import Attempt
from agentdeck.runtime import Runtime
from agentdeck.usage.service import DbUsageSink, UsageLedger
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

MAR_10 = dt.datetime(2026, 3, 10, 23, 30, tzinfo=dt.UTC)
MAR_11 = dt.datetime(2026, 3, 11, 0, 30, tzinfo=dt.UTC)
FEB_28 = dt.datetime(2026, 2, 28, 12, 0, tzinfo=dt.UTC)
MARCH = {"from": "2026-03-01", "to": "2026-04-01"}


@pytest.fixture
def runtime(app: Any) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture
def sink_at(runtime: Runtime) -> Callable[[dt.datetime], DbUsageSink]:
    return lambda when: DbUsageSink(runtime.sessionmaker, clock=lambda: when)


async def _usage(client: httpx.AsyncClient, who: Tenant, **params: str) -> dict[str, Any]:
    resp = await client.get("/api/v1/usage", params=params, headers=who.headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def _records(client: httpx.AsyncClient, who: Tenant, **params: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/usage/records", params=params, headers=who.headers)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


async def test_sink_maps_every_field_and_keeps_failed_attempts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    attempts = [
        Attempt(
            provider="openai",
            model="gpt-4o",
            status="error",
            error_kind="rate_limit",
            http_status=429,
            latency_ms=12.5,
        ),
        Attempt(provider="anthropic", model="claude", status="error", error_kind="timeout"),
    ]
    record = usage_record(
        tenant,
        space_id=space,
        api_key_id="not-a-uuid",
        run_id="run-1",
        step_id="answer",
        agent_id="support-bot",
        kind="stream",
        provider="anthropic",
        model="claude",
        input_tokens=7,
        output_tokens=0,
        cached_tokens=3,
        cost_usd=0.0,
        latency_ms=250.0,
        ttft_ms=40.0,
        status="error",
        error="no provider could answer",
        cache_hit=False,
        attempts=attempts,
    )
    await DbUsageSink(runtime.sessionmaker).record(record)

    [row] = await _records(client, tenant)
    assert row["space_id"] == space and row["user_id"] == tenant.user_id
    assert row["api_key_id"] is None, "an id that is not a UUID is dropped, not fatal"
    assert (row["run_id"], row["step_id"], row["agent_id"]) == ("run-1", "answer", "support-bot")
    assert (row["kind"], row["provider"], row["model"]) == ("stream", "anthropic", "claude")
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (7, 0, 3)
    assert (row["latency_ms"], row["ttft_ms"]) == (250.0, 40.0)
    assert row["status"] == "error" and row["error"] == "no provider could answer"
    assert row["attempts"] == [a.model_dump(mode="json") for a in attempts]
    summary = await _usage(client, tenant)
    assert summary["total"]["calls"] == 1 and summary["total"]["errors"] == 1


async def test_sink_never_raises(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    sink = DbUsageSink(runtime.sessionmaker)
    missing_space = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e99"
    with capture_logs() as logs:
        await sink.record(usage_record(tenant, space_id=missing_space))  # FK violation
        await sink.record(usage_record(tenant, org_id=None))
    events = [e["event"] for e in logs]
    assert "usage.write_failed" in events and "usage.unattributed" in events
    failed = next(e for e in logs if e["event"] == "usage.write_failed")
    assert failed["org_id"] == tenant.org_id and failed["log_level"] == "error"
    assert await _records(client, tenant) == []


async def test_sums_by_model_day_space_and_agent(
    client: httpx.AsyncClient, sink_at: Callable[[dt.datetime], DbUsageSink]
) -> None:
    tenant = await create_tenant(client)
    personal = await personal_space_id(client, tenant)
    shared = (await create_space(client, tenant))["id"]
    calls = [
        (
            MAR_10,
            dict(
                model="a",
                space_id=personal,
                agent_id="bot",
                cost_usd=0.5,
                input_tokens=10,
                output_tokens=1,
                latency_ms=100.0,
            ),
        ),
        (
            MAR_10,
            dict(
                model="a",
                space_id=shared,
                agent_id="bot",
                cost_usd=0.25,
                cache_hit=True,
                input_tokens=20,
                output_tokens=2,
                cached_tokens=5,
                latency_ms=300.0,
            ),
        ),
        (
            MAR_11,
            dict(
                model="b",
                space_id=shared,
                cost_usd=1.0,
                status="error",
                input_tokens=30,
                output_tokens=3,
                latency_ms=200.0,
            ),
        ),
    ]
    for when, fields in calls:
        await sink_at(when).record(usage_record(tenant, **fields))

    by_model = await _usage(client, tenant, group_by="model", **MARCH)
    assert by_model["from"].startswith("2026-03-01T00:00:00") and by_model["to"].startswith(
        "2026-04-01T00:00:00"
    )
    items = {i["key"]: i for i in by_model["items"]}
    assert set(items) == {"a", "b"}
    a = items["a"]
    assert a == {
        "key": "a",
        "model": "a",
        "calls": 2,
        "errors": 0,
        "cache_hits": 1,
        "input_tokens": 30,
        "output_tokens": 3,
        "cached_tokens": 5,
        "cost_usd": pytest.approx(0.75),
        "avg_latency_ms": pytest.approx(200.0),
    }
    assert items["b"]["errors"] == 1 and items["b"]["cost_usd"] == pytest.approx(1.0)
    total = by_model["total"]
    assert (total["calls"], total["errors"], total["cache_hits"]) == (3, 1, 1)
    assert (total["input_tokens"], total["output_tokens"], total["cached_tokens"]) == (60, 6, 5)
    assert total["cost_usd"] == pytest.approx(1.75) and total["avg_latency_ms"] == 200.0

    by_day = await _usage(client, tenant, group_by="day", **MARCH)
    assert [(i["key"], i["day"], i["calls"]) for i in by_day["items"]] == [
        ("2026-03-10", "2026-03-10", 2),
        ("2026-03-11", "2026-03-11", 1),
    ]
    assert "model" not in by_day["items"][0], "only the grouping's own field is present"

    by_space = await _usage(client, tenant, group_by="space", **MARCH)
    spaces = {i["space_id"]: i["cost_usd"] for i in by_space["items"]}
    assert spaces == {personal: pytest.approx(0.5), shared: pytest.approx(1.25)}

    by_agent = await _usage(client, tenant, group_by="agent", **MARCH)
    agents = {i["key"]: (i["agent_id"], i["calls"]) for i in by_agent["items"]}
    assert agents == {"bot": ("bot", 2), None: (None, 1)}


async def test_date_range_filtering(
    client: httpx.AsyncClient, sink_at: Callable[[dt.datetime], DbUsageSink]
) -> None:
    tenant = await create_tenant(client)
    for when in (FEB_28, MAR_10, MAR_11):
        await sink_at(when).record(usage_record(tenant, cost_usd=1.0))

    async def calls(**params: str) -> int:
        total: int = (await _usage(client, tenant, **params))["total"]["calls"]
        return total

    assert await calls(**MARCH) == 2
    assert await calls(**{"from": "2026-02-01", "to": "2026-03-01"}) == 1
    assert await calls(**{"from": "2026-03-11"}) == 1, "to defaults past the range start"
    assert await calls(to="2026-03-11") == 1, "from defaults to the start of to's month"
    # Naive datetimes are UTC; `to` is exclusive.
    assert await calls(**{"from": "2026-03-10T23:30:00", "to": "2026-03-11T00:30:00"}) == 1
    assert await calls(**{"from": "2026-03-11T01:30:00+01:00", "to": "2026-03-12"}) == 1
    assert await calls() == 0, "the default range is the current month"
    records = await _records(client, tenant, **{"from": "2026-03-01", "to": "2026-03-11"})
    assert len(records) == 1
    bad = await client.get(
        "/api/v1/usage", params={"from": "2026-03-02", "to": "2026-03-01"}, headers=tenant.headers
    )
    assert bad.status_code == 422 and bad.json()["field"] == "from"
    for edge in ({"to": "0001-01-01T00:00:00"}, {"from": "9999-12-31T23:59:59.999999"}):
        out = await client.get("/api/v1/usage", params=edge, headers=tenant.headers)
        assert out.status_code == 422, edge
    wrong = await client.get("/api/v1/usage?group_by=colour", headers=tenant.headers)
    assert wrong.status_code == 422


async def test_default_range_is_this_month(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await create_tenant(client)
    await DbUsageSink(runtime.sessionmaker).record(usage_record(tenant, cost_usd=0.5))
    body = await _usage(client, tenant)
    assert body["total"]["calls"] == 1 and body["total"]["cost_usd"] == pytest.approx(0.5)
    start = dt.datetime.fromisoformat(body["from"])
    assert (start.day, start.hour, start.utcoffset()) == (1, 0, dt.timedelta(0))


async def test_records_are_paginated_newest_first(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    sink = DbUsageSink(runtime.sessionmaker)
    for n in range(5):
        await sink.record(usage_record(tenant, model=f"m{n}"))
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        resp = await client.get("/api/v1/usage/records", params=params, headers=tenant.headers)
        assert resp.status_code == 200, resp.text
        seen += [r["model"] for r in resp.json()["items"]]
        cursor = resp.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ["m4", "m3", "m2", "m1", "m0"]


async def test_members_see_only_their_own_usage(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner)
    assert member.org_id == owner.org_id
    sink = DbUsageSink(runtime.sessionmaker)
    await sink.record(usage_record(owner, cost_usd=1.0, model="owner-model"))
    await sink.record(usage_record(member, cost_usd=0.25, model="member-model"))

    mine = await _usage(client, member)
    assert [i["key"] for i in mine["items"]] == ["member-model"]
    assert mine["total"]["cost_usd"] == pytest.approx(0.25)
    assert [r["model"] for r in await _records(client, member)] == ["member-model"]
    everyone = await _usage(client, owner)
    assert everyone["total"]["calls"] == 2
    assert len(await _records(client, owner)) == 2
    # A read key of the owner sees what the owner sees.
    key = key_headers((await create_api_key(client, owner, scopes=["read"]))["key"])
    resp = await client.get("/api/v1/usage", headers=key)
    assert resp.status_code == 200 and resp.json()["total"]["calls"] == 2


async def test_another_orgs_usage_is_invisible(client: httpx.AsyncClient, runtime: Runtime) -> None:
    a, b = await create_tenant(client), await create_tenant(client)
    await DbUsageSink(runtime.sessionmaker).record(usage_record(a, cost_usd=2.0))
    assert len(await _records(client, a)) == 1
    assert await _records(client, b) == []
    theirs = await _usage(client, b)
    assert theirs["items"] == [] and theirs["total"]["calls"] == 0
    assert theirs["total"]["cost_usd"] == 0.0


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_ledger_writes_after_the_call_and_everything_at_close(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    ledger = UsageLedger(runtime.sessionmaker, flush_after_s=3600)
    for n in range(3):
        await ledger.record(usage_record(tenant, model=f"m{n}"))
    assert await _records(client, tenant) == [], "queued, not written on the caller's path"
    await ledger.aclose()
    assert [r["model"] for r in await _records(client, tenant)] == ["m2", "m1", "m0"]
    await ledger.record(usage_record(tenant, model="late"))  # after close: written at once
    assert len(await _records(client, tenant)) == 4


async def test_the_ledger_keeps_the_good_rows_of_a_batch_with_a_bad_one(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    ledger = UsageLedger(runtime.sessionmaker, flush_after_s=3600)
    missing_space = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e99"
    await ledger.record(usage_record(tenant, model="first"))
    await ledger.record(usage_record(tenant, model="bad", space_id=missing_space))  # FK
    await ledger.record(usage_record(tenant, model="last"))
    with capture_logs() as logs:
        await ledger.flush()
    failed = [e for e in logs if e["event"] == "usage.write_failed"]
    assert len(failed) == 1 and failed[0]["model"] == "bad"
    assert failed[0]["org_id"] == tenant.org_id
    assert [r["model"] for r in await _records(client, tenant)] == ["last", "first"]


async def test_the_ledger_counts_its_own_calls_and_reads_other_processes_after_refresh(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    org = uuid.UUID(tenant.org_id)
    ticks = Ticks()
    ledger = UsageLedger(runtime.sessionmaker, flush_after_s=3600, refresh_s=5, monotonic=ticks)
    now = dt.datetime.now(dt.UTC)
    assert await ledger.spent(org, None, now) == 0.0
    await ledger.record(usage_record(tenant, cost_usd=1.0))
    assert await ledger.spent(org, None, now) == pytest.approx(1.0), "counted before written"
    # Another process's call is in the database only: seen once the sum is read again.
    await DbUsageSink(runtime.sessionmaker).record(usage_record(tenant, cost_usd=2.0))
    assert await ledger.spent(org, None, now) == pytest.approx(1.0)
    ticks.now = 5.0
    assert await ledger.spent(org, None, now) == pytest.approx(3.0)
    assert len(await _records(client, tenant)) == 2, "the read wrote the queued row first"

    await ledger.record(usage_record(tenant, space_id=space, cost_usd=0.5))
    assert await ledger.spent(org, uuid.UUID(space), now) == pytest.approx(0.5)
    assert await ledger.spent(org, None, now) == pytest.approx(3.5)
    next_month = now + dt.timedelta(days=32)
    assert await ledger.spent(org, None, next_month) == 0.0
    await ledger.aclose()

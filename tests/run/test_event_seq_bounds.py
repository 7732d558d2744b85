"""Event sequence numbers from clients are bounded to what the database stores (a 32-bit
integer): larger ones are 422 naming the parameter, never a broken stream."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.run.conftest import Org

HUGE = "999999999999999999999999999999"
SPEC = {"name": "one", "nodes": [{"id": "a", "type": "transform", "value": 1}]}


def _problem(resp: httpx.Response, field: str) -> None:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["field"] == field


@pytest.mark.parametrize("after_seq", [HUGE, str(2**31)])
async def test_a_huge_after_seq_is_422_naming_it(
    client: httpx.AsyncClient, org: Org, after_seq: str
) -> None:
    run = await org.start(await org.agent(SPEC))
    resp = await client.get(
        f"/api/v1/runs/{run.id}/events",
        params={"after_seq": after_seq},
        headers=org.tenant.headers,
    )
    _problem(resp, "after_seq")


async def test_a_huge_last_event_id_is_422_on_both_streams(
    client: httpx.AsyncClient, org: Org
) -> None:
    run = await org.start(await org.agent(SPEC))
    headers = {**org.tenant.headers, "Last-Event-ID": "9" * 20}
    _problem(await client.get(f"/api/v1/runs/{run.id}/events", headers=headers), "Last-Event-ID")
    thread = await client.post("/api/v1/threads", json={}, headers=org.tenant.headers)
    assert thread.status_code == 200, thread.text
    path = f"/api/v1/threads/{thread.json()['thread_id']}/runs/{uuid.uuid4()}/stream"
    _problem(await client.get(path, headers=headers), "Last-Event-ID")


async def test_the_largest_after_seq_is_accepted(client: httpx.AsyncClient, org: Org) -> None:
    run = await org.start(await org.agent(SPEC))
    await client.post(f"/api/v1/runs/{run.id}/cancel", headers=org.tenant.headers)
    resp = await client.get(
        f"/api/v1/runs/{run.id}/events",
        params={"after_seq": str(2**31 - 1)},
        headers=org.tenant.headers,
    )
    assert resp.status_code == 200, resp.text

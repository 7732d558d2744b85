"""Listing a thread's runs pages in SQL: past the 200th run, and by status."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import JSON

from agentdeck.kit.ids import uuid7
from agentdeck.models import Run
from tests.factories import create_agent, create_tenant, personal_space_id

SPEC = {"name": "lister", "nodes": [{"id": "a", "type": "transform", "value": 1}]}


async def test_runs_past_the_200th_and_by_status(client: httpx.AsyncClient, app: Any) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    agent = await create_agent(client, tenant.headers, space, SPEC)
    thread = (await client.post("/api/v1/threads", json={}, headers=tenant.headers)).json()
    ids = []
    async with app.state.runtime.sessionmaker() as session:
        for i in range(230):
            run = Run(
                id=uuid7(), org_id=uuid.UUID(tenant.org_id), space_id=uuid.UUID(space),
                agent_id=uuid.UUID(agent["id"]), agent_version=1,
                thread_id=uuid.UUID(thread["thread_id"]), output=JSON.NULL,
                status="completed" if i % 3 else "failed", inputs={"i": i},
            )  # fmt: skip
            session.add(run)
            ids.append(str(run.id))
        await session.commit()
    newest_first = ids[::-1]
    url = f"/api/v1/threads/{thread['thread_id']}/runs"
    page = await client.get(url, params={"limit": 20, "offset": 210}, headers=tenant.headers)
    assert page.status_code == 200
    assert [r["run_id"] for r in page.json()] == newest_first[210:230]
    errors = await client.get(
        url, params={"status": "error", "limit": 200, "offset": 70}, headers=tenant.headers
    )
    failed = [rid for i, rid in enumerate(ids) if i % 3 == 0][::-1]
    assert [r["run_id"] for r in errors.json()] == failed[70:]
    assert all(r["status"] == "error" for r in errors.json())
    other = await create_tenant(client)
    assert (await client.get(url, headers=other.headers)).status_code == 404

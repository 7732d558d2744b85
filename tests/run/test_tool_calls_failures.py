"""A tool server that hangs, answers 500, garbage or 10 MB, or drops the connection mid-call:
the model gets each failure as a tool error, the run goes on, the worker survives."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agentdeck.run import service
from agentdeck.run.journal import open_journal
from agentdeck.runtime import Runtime
from tests.run.conftest import Org
from tests.run.tool_support import ScriptedModel, run_worker
from tests.tool.support import github_toolset
from tests.tools.servers import FakeApi, Receive, Recorded, Reply, Send, loopback_allowed, serving

OWNERS = ("hang", "fail", "garbage", "big", "drop")


def _bad_github() -> FakeApi:
    api = FakeApi()

    @api.route("GET", "/repos/hang/x/issues")
    async def hang(req: Recorded) -> Reply:
        await asyncio.Event().wait()  # never answers; the server's shutdown ends it
        raise AssertionError("unreachable")

    @api.route("GET", "/repos/fail/x/issues")
    def fail(req: Recorded) -> Reply:
        return Reply(500, {"message": "Server Error"})

    @api.route("GET", "/repos/garbage/x/issues")
    def garbage(req: Recorded) -> Reply:
        return Reply(
            200, raw=b"\x00\xff<html>not json", headers={"content-type": "application/json"}
        )

    @api.route("GET", "/repos/big/x/issues")
    def big(req: Recorded) -> Reply:
        return Reply(200, raw=b"[" + b'"x",' * 2_500_000 + b'"x"]',
                     headers={"content-type": "application/json"})  # fmt: skip

    @api.route("GET", "/repos/drop/x/issues", raw=True)
    async def drop(req: Recorded, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"100000")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b'[{"number": 1', "more_body": True})
        raise RuntimeError("the server dies mid-response")

    @api.route("GET", "/repos/ok/x/issues")
    def ok(req: Recorded) -> Reply:
        return Reply(200, [])

    return api


@pytest.fixture
async def bad_server() -> AsyncIterator[str]:
    with loopback_allowed():
        async with serving(_bad_github()) as url:
            yield url


@pytest.fixture
def model() -> ScriptedModel:
    calls = [("github__list_issues", {"owner": o, "repo": "x"}) for o in OWNERS]
    return ScriptedModel(calls)


@pytest.fixture
async def worker(runtime: Runtime, model: ScriptedModel) -> AsyncIterator[Any]:
    async for w in run_worker(runtime, model):
        yield w


async def test_broken_tool_servers_are_tool_errors_for_the_model(
    client: httpx.AsyncClient,
    org: Org,
    runtime: Runtime,
    bad_server: str,
    model: ScriptedModel,
    worker: Any,
) -> None:
    await github_toolset(
        client, org.tenant, org.space, bad_server, None, timeout=1, max_result_bytes=50_000
    )
    definition = {"name": "robust", "nodes": [
        {"id": "ag", "type": "agent", "prompt": "list", "tools": ["github"]},
        {"id": "after", "type": "tool", "needs": ["ag"], "tool": "github.list_issues",
         "args": {"owner": "ok", "repo": "x"}},
    ]}  # fmt: skip
    resp = await client.post(
        "/api/v1/agents",
        json={"space_id": org.space, "definition": definition},
        headers=org.tenant.headers,
    )
    assert resp.status_code == 201, resp.text
    agent = uuid.UUID(resp.json()["id"])
    run = await org.start(agent)
    done = await service.wait_for_run(runtime, run.id, timeout_s=60)
    assert done.status == "completed", done.error

    events = await open_journal(runtime.sessionmaker, run.org_id).events(str(run.id))
    results = [e.data for e in events if e.type == "tool.result" and e.data["node"] == "ag"]
    kinds = [r["error"]["kind"] for r in results]
    assert kinds == ["timeout", "http_5xx", "invalid_output", "invalid_output", "network"]
    assert "truncated" in results[3]["error"]["message"]
    # the model was told each failure and answered anyway
    steps = {s.node_id: s for s in await _steps(runtime, org, run.id)}
    answer = json.loads(steps["ag"].output)
    assert [("error" in json.loads(a)) for a in answer] == [True] * 5
    assert steps["after"].status == "completed" and steps["after"].output == []

    # the worker is still there: another run completes
    again = await org.start(agent)
    assert (await service.wait_for_run(runtime, again.id, timeout_s=60)).status == "completed"


async def _steps(runtime: Runtime, org: Org, run_id: uuid.UUID) -> list[Any]:
    async with runtime.sessionmaker() as session:
        return list(await service.list_steps(session, org.principal, run_id))

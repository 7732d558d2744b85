"""Runs end to end through the service and an in-process worker."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agentdeck.errors import Conflict, InvalidInput, NotFound
from agentdeck.run import service
from agentdeck.runtime import Runtime
from tests.engine.conftest import FakeLLM, LocalServer
from tests.run.conftest import Org

TWO_STEPS = {
    "name": "two",
    "inputs": {
        "type": "object",
        "properties": {"who": {"type": "string"}},
        "required": ["who"],
    },
    "nodes": [
        {"id": "greet", "type": "transform", "value": "hi {{ inputs.who }}"},
        {"id": "talk", "type": "llm", "prompt": "{{ steps.greet.output }}", "needs": ["greet"]},
    ],
}
HUMAN = {
    "name": "ask",
    "nodes": [
        {"id": "before", "type": "transform", "value": 1},
        {
            "id": "ok",
            "type": "human",
            "message": "approve?",
            "schema": {"type": "boolean"},
            "needs": ["before"],
        },
        {"id": "after", "type": "transform", "value": "{{ steps.ok.output }}", "needs": ["ok"]},
    ],
}


async def test_run_completes_and_updates_thread(
    runtime: Runtime, org: Org, worker: Any, fake_llm: FakeLLM
) -> None:
    agent = await org.agent(TWO_STEPS)
    thread = await org.thread()
    run = await org.start(agent, inputs={"who": "ada"}, thread_id=thread)
    assert run.status == "pending"
    done = await service.wait_for_run(runtime, run.id, timeout_s=10)
    assert done.status == "completed", done.error
    assert done.output == "ok" and done.tokens_in == 3 and done.tokens_out == 1
    assert fake_llm.requests[-1].messages[-1].content == "hi ada"
    async with runtime.sessionmaker() as session:
        steps = await service.list_steps(session, org.principal, run.id)
        from agentdeck.run.repository import thread_by_id

        row = await thread_by_id(session, thread)
    assert [(s.node_id, s.status) for s in steps] == [("greet", "completed"), ("talk", "completed")]
    assert row is not None and row.status == "idle"
    assert row.values == {
        "inputs": {"who": "ada"},
        "steps": {"greet": "hi ada", "talk": "ok"},
        "output": "ok",
    }
    items = [i async for i in service.stream_events(runtime, org.principal, run.id)]
    durable = [i.type for i in items if i.seq is not None]
    assert durable[0] == "run.started" and durable[-1] == "run.completed"
    assert [i.seq for i in items] == list(range(1, len(items) + 1))


async def test_live_stream_has_deltas(runtime: Runtime, org: Org, worker: Any) -> None:
    agent = await org.agent(TWO_STEPS)
    run = await org.start(agent, inputs={"who": "x"})
    items = [i async for i in service.stream_events(runtime, org.principal, run.id)]
    deltas = [i.data["delta"] for i in items if i.type == "message.delta"]
    assert items[-1].type == "run.completed"
    assert deltas in ([], ["Hel", "lo"])  # depends on whether we subscribed before the node ran


async def test_invalid_inputs_and_foreign_agents(org: Org, client: Any, app: Any) -> None:
    from tests.run.conftest import make_org

    agent = await org.agent(TWO_STEPS)
    with pytest.raises(InvalidInput) as info:
        await org.start(agent, inputs={"who": 3})
    assert info.value.field == "inputs.who"
    other = await make_org(client, app)
    with pytest.raises(NotFound):
        await other.start(agent, inputs={"who": "x"})
    run = await org.start(agent, inputs={"who": "x"})
    async with app.state.runtime.sessionmaker() as session:
        with pytest.raises(NotFound):
            await service.get_run(session, other.principal, run.id)


async def test_failing_node_fails_only_its_run(runtime: Runtime, org: Org, worker: Any) -> None:
    bad = await org.agent(
        {"name": "bad", "nodes": [{"id": "x", "type": "transform", "value": "{{ 1 / 0 }}"}]}
    )
    good = await org.agent(TWO_STEPS)
    runs = [await org.start(bad), await org.start(good, inputs={"who": "y"})]
    done = await asyncio.gather(*(service.wait_for_run(runtime, r.id, timeout_s=10) for r in runs))
    assert [d.status for d in done] == ["failed", "completed"]
    assert done[0].error is not None


async def test_interrupt_then_resume(runtime: Runtime, org: Org, worker: Any) -> None:
    agent = await org.agent(HUMAN)
    thread = await org.thread()
    run = await org.start(agent, thread_id=thread)
    paused = await service.wait_for_run(runtime, run.id, timeout_s=10)
    assert paused.status == "interrupted"
    assert paused.interrupt == {"node": "ok", "message": "approve?", "schema": {"type": "boolean"}}
    with pytest.raises(InvalidInput):
        await org.start(agent, thread_id=thread, command={"resume": "yes"})
    resumed = await org.start(agent, thread_id=thread, command={"resume": True})
    done = await service.wait_for_run(runtime, resumed.id, timeout_s=10)
    assert done.status == "completed" and done.output is True
    async with runtime.sessionmaker() as session:
        steps = await service.list_steps(session, org.principal, resumed.id)
    assert [(s.node_id, s.status) for s in steps] == [
        ("before", "completed"), ("ok", "interrupted"), ("ok", "completed"),
        ("after", "completed"),
    ]  # fmt: skip
    with pytest.raises(Conflict):
        await org.start(agent, thread_id=thread, command={"resume": True})


async def test_cancel_running_and_pending(
    runtime: Runtime, org: Org, worker: Any, local_server: LocalServer
) -> None:
    local_server.log.delay_first["/slow"] = 5.0
    spec = {
        "name": "slow",
        "nodes": [{"id": "s", "type": "http", "url": local_server.url + "/slow"}],
    }
    agent = await org.agent(spec)
    thread = await org.thread()
    run = await org.start(agent, thread_id=thread)
    with pytest.raises(Conflict):
        await org.start(agent, thread_id=thread)
    queued = await org.start(agent, thread_id=thread, multitask_strategy="enqueue")
    for _ in range(100):
        if local_server.log.count("/slow"):
            break
        await asyncio.sleep(0.02)
    async with runtime.sessionmaker() as session:
        cancelled = await service.cancel_run(session, org.principal, run.id)
        await session.commit()
    assert cancelled.cancel_requested
    done = await service.wait_for_run(runtime, run.id, timeout_s=3)
    assert done.status == "cancelled"
    after = await service.wait_for_run(runtime, queued.id, timeout_s=10)
    assert after.status == "completed"


async def test_unknown_run_is_not_found(runtime: Runtime, org: Org) -> None:
    async with runtime.sessionmaker() as session:
        with pytest.raises(NotFound):
            await service.get_run(session, org.principal, uuid.uuid4())


async def test_run_goes_to_the_local_worker_at_commit_and_a_rollback_frees_the_slot(
    runtime: Runtime, org: Org, worker: Any
) -> None:
    from sqlalchemy import select

    from agentdeck.kit.db import transaction
    from agentdeck.models import Job

    agent = await org.agent(TWO_STEPS)
    with pytest.raises(RuntimeError, match="abandon"):
        async with transaction(runtime.sessionmaker) as session:
            await service.create_run(session, org.principal, agent_id=agent, inputs={"who": "x"})
            raise RuntimeError("abandon")
    slots = worker.options.concurrency
    assert all(worker.reserve() for _ in range(slots))  # the rolled-back run holds no slot
    for _ in range(slots):
        worker.unreserve()
    run = await org.start(agent, inputs={"who": "ada"})
    async with runtime.sessionmaker() as session:
        job = (
            await session.execute(select(Job).where(Job.dedupe_key == f"run:{run.id}:1"))
        ).scalar_one()
    assert job.lease_owner == worker.id  # inserted leased to this process's worker
    done = await service.wait_for_run(runtime, run.id, timeout_s=10)
    assert done.status == "completed", done.error


async def test_a_known_version_is_not_read_again_and_stays_private(
    org: Org, client: Any, app: Any
) -> None:
    """Versions never change, so a process parses each once; the cache is reached only
    after the agent's own access check, so another tenant still gets 404."""
    from sqlalchemy import event

    from tests.run.conftest import make_org

    agent = await org.agent(TWO_STEPS)
    await org.start(agent, inputs={"who": "x"})
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = app.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        run = await org.start(agent, inputs={"who": "y"})
        with pytest.raises(InvalidInput):  # the cached version's input schema still applies
            await org.start(agent, inputs={"who": 3})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert run.agent_version == 1
    assert statements and not any("agent_versions" in s for s in statements)
    other = await make_org(client, app)
    with pytest.raises(NotFound):
        await other.start(agent, inputs={"who": "x"})


async def test_a_runs_first_event_commits_with_its_running_status(
    runtime: Runtime, org: Org, worker: Any
) -> None:
    """The worker writes `run.started` in the transaction that marks the run running, and the
    engine does not write it again: event numbers stay 1, 2, 3, ... with one start."""
    from tests.run.conftest import stored_events

    agent = await org.agent(TWO_STEPS)
    run = await org.start(agent, inputs={"who": "x"})
    done = await service.wait_for_run(runtime, run.id, timeout_s=10)
    assert done.status == "completed"
    events = await stored_events(runtime, str(run.id))
    assert events[0] == (1, "run.started")
    assert [t for _, t in events].count("run.started") == 1
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][1] == "run.completed"

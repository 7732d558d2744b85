from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agentdeck.engine import (
    Engine,
    MemoryJournal,
    NodeError,
    Ports,
    Resume,
    ResumeError,
    StepRecord,
    StepStatus,
)
from agentdeck.engine.ports import ChatRequest, ChatResult

from .conftest import FakeLLM, FakeTools, LocalServer, NoSleep, RecordingSink, spec_from

MakeEngine = Callable[..., Engine]


async def test_linear_run_completes_with_events(
    make_engine: MakeEngine, sink: RecordingSink
) -> None:
    spec = spec_from(
        "name: t\nnodes:\n"
        "  - {id: a, type: transform, value: '{{ inputs.x }}'}\n"
        "  - {id: b, type: transform, needs: [a], value: {y: '{{ steps.a.output + 1 }}'}}\n"
    )
    result = await make_engine().run(spec, "r1", {"x": 1})
    assert (result.status, result.output) == ("completed", {"y": 2})
    assert sink.types() == [
        "run.started", "step.started", "step.completed", "step.started", "step.completed",
        "run.completed",
    ]  # fmt: skip
    assert [seq for seq, _, _ in sink.durable] == [1, 2, 3, 4, 5, 6]


async def test_a_run_whose_start_the_caller_recorded_does_not_start_again(
    make_engine: MakeEngine, sink: RecordingSink
) -> None:
    """``started=True``: the caller journaled `run.started` (a worker does, with the run's
    status); the engine goes straight to the steps."""
    spec = spec_from("name: t\nnodes:\n  - {id: a, type: transform, value: 1}\n")
    result = await make_engine().run(spec, "r1", started=True)
    assert result.status == "completed"
    assert sink.types() == ["step.started", "step.completed", "run.completed"]


async def test_invalid_inputs_fail_the_run(make_engine: MakeEngine) -> None:
    spec = spec_from(
        "name: t\ninputs: {type: object, required: [ticket]}\n"
        "nodes:\n  - {id: a, type: transform, value: 1}\n"
    )
    result = await make_engine().run(spec, "r1", {})
    assert result.status == "failed"
    assert result.error is not None and result.error["kind"] == "invalid_input"


class Flaky:
    def __init__(self, failures: int, kind: str = "llm") -> None:
        self.failures = failures
        self.kind = kind
        self.calls = 0

    def __call__(self, request: ChatRequest) -> ChatResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise NodeError(self.kind, "provider hiccup")  # type: ignore[arg-type]
        return ChatResult(text="fine")


LLM_RETRY = """
name: t
nodes:
  - id: a
    type: llm
    prompt: hi
    stream: false
    retry: {max_attempts: 4, initial_delay: 1s, max_delay: 3s}
"""


async def test_retries_with_exponential_backoff_then_success(
    make_engine: MakeEngine, no_sleep: NoSleep, sink: RecordingSink, journal: MemoryJournal
) -> None:
    flaky = Flaky(failures=3)
    result = await make_engine(llm=FakeLLM(flaky)).run(spec_from(LLM_RETRY), "r1")
    assert (result.status, result.output) == ("completed", "fine")
    assert flaky.calls == 4
    # equal jitter with rand=0.5 -> 0.75 * min(max, initial * 2**n)
    assert no_sleep.delays == [0.75, 1.5, 2.25]
    assert sink.types().count("step.retrying") == 3
    records = await journal.load("r1")
    assert [r.status for r in records] == [StepStatus.FAILED] * 3 + [StepStatus.COMPLETED]
    assert {r.idempotency_key for r in records} == {"r1:a"}


async def test_errors_outside_retry_on_are_not_retried(make_engine: MakeEngine) -> None:
    flaky = Flaky(failures=1, kind="invalid_input")
    result = await make_engine(llm=FakeLLM(flaky)).run(spec_from(LLM_RETRY), "r1")
    assert result.status == "failed"
    assert result.error is not None and result.error["kind"] == "invalid_input"
    assert flaky.calls == 1


async def test_node_timeout_fails_the_step(make_engine: MakeEngine) -> None:
    async def slow(request: ChatRequest) -> ChatResult:
        await asyncio.sleep(5)
        return ChatResult(text="late")

    spec = spec_from("name: t\nnodes:\n  - {id: a, type: llm, prompt: hi, timeout: 50ms}\n")
    started = time.perf_counter()
    result = await make_engine(llm=FakeLLM(slow)).run(spec, "r1")
    assert time.perf_counter() - started < 1
    assert result.status == "failed"
    assert result.error is not None and result.error["kind"] == "timeout"


async def test_run_timeout(make_engine: MakeEngine, journal: MemoryJournal) -> None:
    async def slow(request: ChatRequest) -> ChatResult:
        await asyncio.sleep(5)
        return ChatResult(text="late")

    spec = spec_from("name: t\ntimeout: 50ms\nnodes:\n  - {id: a, type: llm, prompt: hi}\n")
    result = await make_engine(llm=FakeLLM(slow)).run(spec, "r1")
    assert result.status == "failed"
    assert result.error is not None and result.error["kind"] == "timeout"
    [record] = await journal.load("r1")
    assert record.status is StepStatus.FAILED
    assert record.error is not None and record.error["kind"] == "cancelled"


async def test_cancellation_is_fast(make_engine: MakeEngine, sink: RecordingSink) -> None:
    async def slow(request: ChatRequest) -> ChatResult:
        await asyncio.sleep(10)
        return ChatResult(text="late")

    spec = spec_from(
        "name: t\nnodes:\n  - {id: a, type: llm, prompt: hi}\n  - {id: b, type: llm, prompt: yo}\n"
    )
    cancel = asyncio.Event()
    task = asyncio.create_task(make_engine(llm=FakeLLM(slow)).run(spec, "r1", cancel=cancel))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    cancel.set()
    result = await task
    elapsed = time.perf_counter() - started
    assert result.status == "cancelled"
    assert elapsed < 0.1
    assert sink.types()[-1] == "run.cancelled"


async def test_run_timeout_leaves_the_callers_task_uncancelled(make_engine: MakeEngine) -> None:
    """The lone node runs inline and is interrupted by cancelling the caller's task; the
    engine must take that cancellation back, or the caller's next await would raise."""

    async def slow(request: ChatRequest) -> ChatResult:
        await asyncio.sleep(5)
        return ChatResult(text="late")

    spec = spec_from("name: t\ntimeout: 50ms\nnodes:\n  - {id: a, type: llm, prompt: hi}\n")
    result = await make_engine(llm=FakeLLM(slow)).run(spec, "r1")
    assert result.error is not None and result.error["kind"] == "timeout"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # no stray CancelledError


@pytest.mark.parametrize("how", ["cancel", "timeout"])
async def test_cancel_and_timeout_stop_parallel_nodes(
    make_engine: MakeEngine, journal: MemoryJournal, sink: RecordingSink, how: str
) -> None:
    async def slow(request: ChatRequest) -> ChatResult:
        await asyncio.sleep(5)
        return ChatResult(text="late")

    timeout = "timeout: 50ms\n" if how == "timeout" else ""
    spec = spec_from(
        f"name: t\n{timeout}nodes:\n"
        "  - {id: a, type: llm, prompt: hi}\n  - {id: b, type: llm, prompt: yo}\n"
    )
    cancel = asyncio.Event()
    if how == "cancel":
        asyncio.get_running_loop().call_later(0.05, cancel.set)
    started = time.perf_counter()
    result = await make_engine(llm=FakeLLM(slow)).run(spec, "r1", cancel=cancel)
    assert time.perf_counter() - started < 1
    assert result.status == ("cancelled" if how == "cancel" else "failed")
    assert sink.types()[-1] == ("run.cancelled" if how == "cancel" else "run.failed")
    records = await journal.load("r1")
    assert sorted((r.node_id, r.status.value) for r in records) == [
        ("a", "failed"), ("b", "failed"),
    ]  # fmt: skip
    assert all(r.error is not None and r.error["kind"] == "cancelled" for r in records)


async def test_cancel_while_recording_a_skip_starts_nothing_more(sink: RecordingSink) -> None:
    cancel = asyncio.Event()

    class CancellingJournal(MemoryJournal):
        async def record_step(self, record: StepRecord) -> None:
            await super().record_step(record)
            cancel.set()  # arrives while the loop is busy, not waiting
            await asyncio.sleep(0)

    async def slow(request: ChatRequest) -> ChatResult:
        await asyncio.sleep(5)
        return ChatResult(text="late")

    spec = spec_from(
        "name: t\nnodes:\n  - {id: a, type: transform, value: 1}\n"
        "  - {id: b, type: transform, needs: [a], when: 'false', value: 2}\n"
        "  - {id: c, type: llm, needs: [a], prompt: hi}\n"
    )
    journal = CancellingJournal()
    engine = Engine(journal, ports=Ports(llm=FakeLLM(slow)), events=sink)
    started = time.perf_counter()
    result = await engine.run(spec, "r1", cancel=cancel)
    assert time.perf_counter() - started < 1
    assert result.status == "cancelled"
    assert [r.node_id for r in await journal.load("r1")] == ["a", "b"]


async def test_chain_after_parallel_nodes_runs_in_order(
    make_engine: MakeEngine, sink: RecordingSink
) -> None:
    spec = spec_from(
        "name: t\nnodes:\n"
        "  - {id: a, type: transform, value: 1}\n  - {id: b, type: transform, value: 2}\n"
        "  - {id: c, type: transform, needs: [a, b],"
        "     value: '{{ steps.a.output + steps.b.output }}'}\n"
        "  - {id: d, type: transform, needs: [c], value: '{{ steps.c.output * 10 }}'}\n"
    )
    result = await make_engine().run(spec, "r1")
    assert (result.status, result.output) == ("completed", 30)
    assert sink.types().count("step.completed") == 4


async def test_resume_after_crash_never_reruns_completed_steps(
    local_server: LocalServer, journal: MemoryJournal, sink: RecordingSink
) -> None:
    spec = spec_from(
        f"""
name: t
nodes:
  - {{id: first, type: http, method: POST, url: "{local_server.url}/first"}}
  - {{id: second, type: http, method: POST, url: "{local_server.url}/second", needs: [first]}}
  - {{id: third, type: http, method: POST, url: "{local_server.url}/third", needs: [second]}}
"""
    )
    async with httpx.AsyncClient() as client:
        from agentdeck.engine import Ports

        ports = Ports(http=client, allow_private_network=True)
        # Worker 1 runs `first`, starts `second`, and dies mid-request (a shutdown cancels
        # its task; it writes nothing more, so `second` stays running in the journal).
        local_server.log.delay_first["/second"] = 0.3
        worker1 = Engine(journal, ports=ports, events=sink)
        task = asyncio.create_task(worker1.run(spec, "r1"))
        for _ in range(400):  # poll the server thread until `second` is in flight
            if local_server.log.count("/second"):
                break
            await asyncio.sleep(0.005)
        task.cancel()  # the crash: nothing after this point is written by worker 1
        with pytest.raises(asyncio.CancelledError):
            await task
        # Worker 2 resumes from the journal.
        result = await Engine(journal, ports=ports, events=sink).run(spec, "r1")
    assert result.status == "completed", result.error
    assert local_server.log.count("/first") == 1
    assert local_server.log.count("/second") == 2
    assert local_server.log.count("/third") == 1
    assert local_server.log.keys("/second") == ["r1:second", "r1:second"]
    records = await journal.load("r1")
    assert [(r.node_id, r.attempt, r.status.value) for r in records] == [
        ("first", 1, "completed"), ("second", 1, "running"), ("second", 2, "completed"),
        ("third", 1, "completed"),
    ]  # fmt: skip


async def test_interrupt_then_resume_with_value(
    make_engine: MakeEngine, sink: RecordingSink
) -> None:
    spec = spec_from(
        """
name: t
nodes:
  - {id: draft, type: transform, value: "hello"}
  - id: approve
    type: human
    needs: [draft]
    message: "Send {{ steps.draft.output }}?"
    schema: {type: object, properties: {approved: {type: boolean}}, required: [approved]}
  - {id: send, type: transform, needs: [approve], when: "steps.approve.output.approved",
     value: "sent {{ steps.draft.output }}"}
output: "{{ steps.send.output }}"
"""
    )
    engine = make_engine()
    first = await engine.run(spec, "r1")
    assert first.status == "interrupted"
    assert first.interrupt == {
        "node": "approve",
        "message": "Send hello?",
        "schema": {
            "type": "object",
            "properties": {"approved": {"type": "boolean"}},
            "required": ["approved"],
        },
    }
    assert sink.types()[-1] == "run.interrupted"
    with pytest.raises(ResumeError, match="approved"):
        await engine.run(spec, "r1", resume=Resume({"approved": "yes"}))
    second = await engine.run(spec, "r1", resume=Resume({"approved": True}))
    assert (second.status, second.output) == ("completed", "sent hello")
    with pytest.raises(ResumeError, match="not waiting"):
        await engine.run(spec, "r1", resume=Resume({"approved": True}))


async def test_max_steps_stops_the_run(make_engine: MakeEngine) -> None:
    spec = spec_from(
        "name: t\nmax_steps: 3\nnodes:\n"
        "  - {id: a, type: transform, value: [1, 2, 3, 4, 5], for_each: 'inputs.xs',"
        " max_concurrency: 1}\n"
    )
    result = await make_engine().run(spec, "r1", {"xs": [1, 2, 3, 4, 5]})
    assert result.status == "failed"
    assert result.error is not None and result.error["kind"] == "max_steps"


async def test_a_raising_node_fails_only_its_own_run(make_engine: MakeEngine) -> None:
    def explode(**kwargs: Any) -> Any:
        raise RuntimeError("boom")

    tools = FakeTools({"explode": explode, "echo": lambda **kw: kw})
    engine = make_engine(tools=tools)
    bad = spec_from("name: bad\nnodes:\n  - {id: a, type: tool, tool: explode}\n")
    good = spec_from("name: good\nnodes:\n  - {id: a, type: tool, tool: echo, args: {x: 1}}\n")
    results = await asyncio.gather(engine.run(bad, "r-bad"), engine.run(good, "r-good"))
    assert results[0].status == "failed"
    assert results[0].error is not None
    assert results[0].error["kind"] == "internal" and "boom" in results[0].error["message"]
    assert (results[1].status, results[1].output) == ("completed", {"x": 1})


async def test_on_error_continue_and_branch(make_engine: MakeEngine) -> None:
    def explode(**kwargs: Any) -> Any:
        raise NodeError("tool", "down")

    spec = spec_from(
        """
name: t
nodes:
  - {id: soft, type: tool, tool: explode, on_error: continue, default: {n: 0}}
  - {id: hard, type: tool, tool: explode, on_error: rescue}
  - {id: after_hard, type: transform, needs: [hard], value: never}
  - {id: rescue, type: transform, value: "rescued {{ steps.hard.error.kind }}"}
output: {soft: "{{ steps.soft.output }}", rescue: "{{ steps.rescue.output }}",
         skipped: "{{ steps.after_hard.status }}"}
"""
    )
    result = await make_engine(tools=FakeTools({"explode": explode})).run(spec, "r1")
    assert result.status == "completed"
    assert result.output == {"soft": {"n": 0}, "rescue": "rescued tool", "skipped": "skipped"}


async def test_for_each_runs_items_with_bounded_concurrency(make_engine: MakeEngine) -> None:
    active = 0
    peak = 0

    async def reply(request: ChatRequest) -> ChatResult:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return ChatResult(text=request.messages[-1].content.upper())

    spec = spec_from(
        "name: t\nnodes:\n  - {id: up, type: llm, prompt: '{{ item }}', for_each: inputs.words,"
        " max_concurrency: 2, stream: false}\n"
    )
    words = ["a", "b", "c", "d", "e"]
    result = await make_engine(llm=FakeLLM(reply)).run(spec, "r1", {"words": words})
    assert (result.status, result.output) == ("completed", ["A", "B", "C", "D", "E"])
    assert peak == 2

from __future__ import annotations

from typing import Any

import yaml

from agentdeck.engine import AgentSpec, RunState, StepRecord, StepStatus, plan

S = StepStatus


def spec(*nodes: str, output: str | None = None) -> AgentSpec:
    body = "name: t\nnodes:\n" + "".join(f"  - {n}\n" for n in nodes)
    if output:
        body += f"output: {output!r}\n"
    return AgentSpec.model_validate(yaml.safe_load(body))


def state(*steps: tuple[str, StepStatus, Any], inputs: Any = None) -> RunState:
    records = [
        StepRecord(run_id="r", node_id=n, attempt=1, status=st, idempotency_key=f"r:{n}", output=o)
        for n, st, o in steps
    ]
    return RunState.from_records(records, inputs)


DIAMOND = spec(
    "{id: a, type: transform, value: 1}",
    "{id: b, type: transform, value: 2, needs: [a]}",
    "{id: c, type: transform, value: 3, needs: [a]}",
    "{id: d, type: transform, value: 4, needs: [b, c]}",
    output="{{ steps.d.output }}",
)


def test_roots_are_ready_first() -> None:
    p = plan(DIAMOND, state())
    assert (p.status, p.ready, p.skip) == ("running", ("a",), ())


def test_fan_out_then_fan_in_waits_for_all() -> None:
    assert plan(DIAMOND, state(("a", S.COMPLETED, 1))).ready == ("b", "c")
    assert plan(DIAMOND, state(("a", S.COMPLETED, 1), ("b", S.COMPLETED, 2))).ready == ("c",)
    done = state(("a", S.COMPLETED, 1), ("b", S.COMPLETED, 2), ("c", S.COMPLETED, 3))
    assert plan(DIAMOND, done).ready == ("d",)


def test_running_steps_stay_ready_for_resume() -> None:
    p = plan(DIAMOND, state(("a", S.COMPLETED, 1), ("b", S.RUNNING, None)))
    assert p.ready == ("b", "c")


def test_completion_renders_output() -> None:
    done = state(*((n, S.COMPLETED, i) for i, n in enumerate("abcd")))
    p = plan(DIAMOND, done)
    assert (p.status, p.output) == ("completed", 3)


def test_plan_is_deterministic() -> None:
    st = state(("a", S.COMPLETED, 1))
    assert plan(DIAMOND, st) == plan(DIAMOND, st)


def test_when_false_skips_and_propagates_in_one_pass() -> None:
    s = spec(
        "{id: a, type: transform, value: 1}",
        "{id: b, type: transform, value: 2, needs: [a], when: '{{ steps.a.output > 5 }}'}",
        "{id: c, type: transform, value: 3, needs: [b]}",
        "{id: d, type: transform, value: 4, needs: [a]}",
    )
    p = plan(s, state(("a", S.COMPLETED, 1)))
    assert [(k.node, k.reason) for k in p.skip] == [
        ("b", "when is false"),
        ("c", "upstream 'b' was skipped"),
    ]
    assert p.ready == ("d",)


def test_fan_in_after_branch_runs_when_it_declares_when() -> None:
    s = spec(
        "{id: a, type: transform, value: 1}",
        "{id: pos, type: transform, value: y, needs: [a], when: 'steps.a.output == 1'}",
        "{id: neg, type: transform, value: n, needs: [a], when: 'steps.a.output != 1'}",
        "{id: join, type: transform, value: j, needs: [pos, neg], when: 'true'}",
        output="{{ steps.pos.output or steps.neg.output }}",
    )
    st = state(("a", S.COMPLETED, 1))
    p = plan(s, st)
    assert [k.node for k in p.skip] == ["neg"]
    assert p.ready == ("pos",)
    st = state(("a", S.COMPLETED, 1), ("pos", S.COMPLETED, "y"), ("neg", S.SKIPPED, None))
    assert plan(s, st).ready == ("join",)
    st = state(
        ("a", S.COMPLETED, 1), ("pos", S.COMPLETED, "y"), ("neg", S.SKIPPED, None),
        ("join", S.COMPLETED, "j"),
    )  # fmt: skip
    assert plan(s, st).output == "y"


def test_failure_fails_the_run_by_default() -> None:
    p = plan(DIAMOND, state(("a", S.COMPLETED, 1), ("b", S.FAILED, None)))
    assert p.status == "failed"
    assert p.error is not None and p.error["node"] == "b"


def test_on_error_continue_uses_output_and_goes_on() -> None:
    s = spec(
        "{id: a, type: transform, value: 1, on_error: continue, default: fallback}",
        "{id: b, type: transform, value: 2, needs: [a]}",
    )
    p = plan(s, state(("a", S.FAILED, "fallback")))
    assert (p.status, p.ready) == ("running", ("b",))


def test_on_error_branch_routes_to_handler_and_skips_dependents() -> None:
    s = spec(
        "{id: a, type: http, url: 'http://x', on_error: handler}",
        "{id: b, type: transform, value: 2, needs: [a]}",
        "{id: handler, type: transform, value: '{{ steps.a.error }}'}",
    )
    p = plan(s, state())
    assert p.ready == ("a",)  # the handler waits for the nodes routing to it
    p = plan(s, state(("a", S.FAILED, None)))
    assert p.ready == ("handler",)
    assert [k.node for k in p.skip] == ["b"]
    p = plan(s, state(("a", S.COMPLETED, {})))
    assert p.ready == ("b",)
    assert [(k.node, k.reason) for k in p.skip] == [("handler", "no error to handle")]


def test_interrupted_waits_but_other_branches_continue() -> None:
    s = spec(
        "{id: h, type: human, message: 'ok?'}",
        "{id: after, type: transform, value: 1, needs: [h]}",
        "{id: other, type: transform, value: 2}",
    )
    p = plan(s, state(("h", S.INTERRUPTED, {"node": "h"})))
    assert (p.status, p.ready, p.interrupted) == ("running", ("other",), ("h",))
    p = plan(s, state(("h", S.INTERRUPTED, {"node": "h"}), ("other", S.COMPLETED, 2)))
    assert (p.status, p.ready, p.interrupted) == ("interrupted", (), ("h",))


def test_for_each_node_stays_ready_until_its_total_is_recorded() -> None:
    s = spec(
        "{id: a, type: transform, value: [1, 2, 3]}",
        "{id: each, type: transform, value: '{{ item }}', needs: [a], for_each: steps.a.output}",
    )
    item = StepRecord(
        run_id="r", node_id="each", attempt=1, status=S.COMPLETED, idempotency_key="r:each:0",
        index=0, output=1,
    )  # fmt: skip
    st = state(("a", S.COMPLETED, [1, 2, 3]))
    st.apply(item)
    assert plan(s, st).ready == ("each",)
    assert st.items["each"][0].output == 1
    st.apply(
        StepRecord(
            run_id="r",
            node_id="each",
            attempt=1,
            status=S.COMPLETED,
            idempotency_key="r:each",
            output=[1, 2, 3],
        )
    )
    p = plan(s, st)
    assert (p.status, p.output) == ("completed", [1, 2, 3])


def test_when_template_error_fails_the_run() -> None:
    s = spec("{id: a, type: transform, value: 1, when: 'inputs.nope.deeper'}")
    p = plan(s, state(inputs={}))
    assert p.status == "failed"
    assert p.error is not None and p.error["kind"] == "template"


def test_latest_attempt_wins() -> None:
    records = [
        StepRecord(run_id="r", node_id="a", attempt=1, status=S.FAILED, idempotency_key="r:a"),
        StepRecord(run_id="r", node_id="a", attempt=2, status=S.COMPLETED, idempotency_key="r:a"),
    ]
    st = RunState.from_records(records)
    assert st.nodes["a"].status is S.COMPLETED
    assert plan(DIAMOND, st).ready == ("b", "c")

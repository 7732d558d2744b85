from __future__ import annotations

import json

import pytest

from agentdeck.engine import AgentSpec, SpecError, parse_spec
from agentdeck.engine.spec import HttpNode, HumanNode, parse_duration

TRIAGE = """
name: triage
description: Sort a support ticket
inputs: {type: object, properties: {ticket: {type: string}}, required: [ticket]}
nodes:
  - id: classify
    type: llm
    model: default
    prompt: "Classify: {{ inputs.ticket }}"
    output_schema: {type: object, properties: {category: {type: string}}}
  - id: notify
    type: http
    needs: [classify]
    method: POST
    url: "https://example.org/hook"
    json: {category: "{{ steps.classify.output.category }}"}
    retry: {max_attempts: 3, backoff: exponential}
    timeout: 10s
  - id: approve
    type: human
    needs: [notify]
    message: "Send the answer?"
  - id: answer
    type: transform
    needs: [approve]
    when: "{{ steps.approve.output.approved }}"
    value: {text: "Category {{ steps.classify.output.category }}"}
output: "{{ steps.answer.output }}"
"""


def test_example_parses_with_typed_nodes() -> None:
    spec = parse_spec(TRIAGE, known_models={"default"})
    notify = spec.node("notify")
    assert isinstance(notify, HttpNode)
    assert notify.json_body == {"category": "{{ steps.classify.output.category }}"}
    assert notify.timeout == 10.0
    assert notify.retry.max_attempts == 3
    assert [n.type for n in spec.nodes] == ["llm", "http", "human", "transform"]


def test_json_round_trip_uses_aliases() -> None:
    spec = parse_spec(TRIAGE)
    dumped = spec.model_dump_json(by_alias=True, exclude_none=True)
    again = parse_spec(dumped, "application/json")
    assert again == spec
    assert '"json":' in dumped


def test_json_schema_is_exported() -> None:
    schema = AgentSpec.model_json_schema()
    text = json.dumps(schema)
    for tag in ("llm", "agent", "retrieval", "tool", "http", "transform", "human", "subagent"):
        assert f'"const": "{tag}"' in text
    http = schema["$defs"]["HttpNode"]
    assert "json" in http["properties"]
    assert http["additionalProperties"] is False
    assert "anyOf" in http["properties"]["timeout"]  # numbers or "10s"


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), (3, 3)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def _problems(text: str) -> list[dict[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    return info.value.to_list()


def test_unknown_field_is_named_with_node() -> None:
    problems = _problems("name: t\nnodes:\n  - {id: a, type: http, url: 'http://x', tiemout: 3}")
    assert {"loc": "nodes[0].tiemout", "msg": "Extra inputs are not permitted", "node": "a"} in (
        problems
    )


def test_unknown_type_and_missing_field() -> None:
    problems = _problems(
        "name: t\nnodes:\n  - {id: a, type: htp}\n  - {id: b, type: tool}\n  - {id: c}"
    )
    locs = {(p["loc"], p.get("node")) for p in problems}
    assert ("nodes[0].type", "a") in locs
    assert ("nodes[1].tool", "b") in locs
    assert ("nodes[2].type", "c") in locs


def test_bad_duration_and_retry() -> None:
    problems = _problems(
        "name: t\nnodes:\n  - {id: a, type: transform, value: 1, timeout: soon,"
        " retry: {max_attempts: 0, backoff: linear}}"
    )
    locs = {p["loc"] for p in problems}
    assert {"nodes[0].timeout", "nodes[0].retry.max_attempts", "nodes[0].retry.backoff"} <= locs


def test_model_validators_report_node() -> None:
    problems = _problems(
        "name: t\nnodes:\n  - {id: a, type: llm}\n"
        "  - {id: b, type: http, url: 'http://x', json: {}, body: 'x'}"
    )
    assert [(p["loc"], p["node"]) for p in problems] == [("nodes[0]", "a"), ("nodes[1]", "b")]
    assert "prompt" in problems[0]["msg"]


def test_syntax_errors() -> None:
    assert _problems("name: [")[0]["loc"] == ""
    assert "mapping" in _problems("- 1")[0]["msg"]
    assert _problems(
        '{"name": ',
    )[0]["msg"].startswith("not valid")


def test_human_schema_alias() -> None:
    spec = parse_spec(
        "name: t\nnodes:\n  - {id: h, type: human, message: ok, schema: {type: object}}"
    )
    node = spec.nodes[0]
    assert isinstance(node, HumanNode)
    assert node.response_schema == {"type": "object"}

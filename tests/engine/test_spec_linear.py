"""Validation does linear work and reports what the full walks report (issue 11 item 5).

The shortcuts: templates made of `{{ dotted.path }}` lookups are read without Jinja's
parser, a node list already in run order is its own topological order, and the nesting of
a validated definition is checked only in its JSON-value fields.
"""

from __future__ import annotations

import importlib
import itertools
from typing import Any

import pytest
from pydantic import BaseModel

from agentdeck.engine import SpecError, TemplateError, templates, validate
from agentdeck.engine._validate_depth import free_fields
from agentdeck.engine.spec import NODE_TYPES, AgentSpec, KnowledgeSearch
from agentdeck.engine.validate import MAX_DEPTH, parse_definition

# The module (`agentdeck.engine.validate` is also the name of its function).
checks = importlib.import_module("agentdeck.engine.validate")

TEMPLATES = [
    "{{ steps.a.output }}",
    "{{steps.a.output.x.y}}",
    "  {{ inputs.q }}  ",
    "Hello {{ inputs.name }}, {{ steps.a.output }}!",
    "{{ inputs.x }}{{ steps.b.output }}",
    "{{ inputs.x }}}",
    "x }} {{ inputs.y",
    "{{ steps }}",
    "{{ steps.a }}",
    "{{ item }}",
    "{{ item.x }} and {{ env.KEY }} and {{ thread.id }}",
    "{{ true }}",
    "{{ None }}",
    "{{ range }}",
    "{{ cycler }}",
    "{{ nope.x }}",
    "{{ é.x }}",
    "{{ steps.a.output | length }}",
    "{{ steps['a'].output }}",
    "{% for x in steps.a.output %}{{ x }}{% endfor %}",
    "{{ steps.a.output }} {# note #}",
    "{{ inputs. }}",
    "{{ 1 + 2 }}",
]
EXPRESSIONS = ["steps.a.output", " inputs.flag ", "true", "range", "nope", "steps.a.output > 1"]


@pytest.mark.parametrize(
    ("text", "bare"), [(t, False) for t in TEMPLATES] + [(e, True) for e in EXPRESSIONS]
)
def test_template_references_are_those_of_the_template_module(text: str, bare: bool) -> None:
    def full() -> Any:
        try:
            return templates.references(text, expression=bare)
        except TemplateError as exc:
            return str(exc)

    def read() -> Any:
        try:
            return checks._references(text, bare, {})
        except TemplateError as exc:
            return str(exc)

    assert read() == full()


def _chain(ids: list[str], **extra: Any) -> dict[str, Any]:
    nodes = [{"id": ids[0], "type": "transform", "value": 0}]
    for before, node_id in itertools.pairwise(ids):
        value = "{{ steps." + before + ".output }}"
        nodes.append({"id": node_id, "type": "transform", "needs": [before], "value": value})
    return {"name": "chain", "nodes": nodes, **extra}


def _problems(data: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    spec = AgentSpec.model_validate(data)
    return [(p.loc, p.node, p.msg) for p in validate(spec)]


def test_nodes_listed_out_of_run_order_check_as_in_order() -> None:
    ids = [f"n{i}" for i in range(3000)]
    data = _chain(ids)
    data["nodes"].reverse()  # each node listed before the one it needs
    data["nodes"].append(
        {"id": "far", "type": "transform", "needs": ["n2999"], "value": "{{ steps.n0.output }}"}
    )
    assert _problems(data) == []
    data["nodes"].append({"id": "late", "type": "transform", "value": "{{ steps.n5.output }}"})
    assert _problems(data) == [
        ("nodes[3001].value", "late", "step 'n5' is not upstream of 'late'; add it to needs")
    ]


def test_a_cycle_among_nodes_listed_in_any_order_is_found() -> None:
    data = _chain(["a", "b", "c", "d"])
    data["nodes"][0]["needs"] = ["c"]
    for order in (data["nodes"], data["nodes"][::-1]):
        [(loc, node, msg)] = _problems({**data, "nodes": order})
        assert msg.startswith("cycle: ") and set(msg[7:].split(" -> ")) == {"a", "b", "c"}
        assert loc.endswith(".needs") and node in {"a", "b", "c"}


def test_a_node_with_many_needs_checks_its_references() -> None:
    parents = [{"id": f"p{i}", "type": "transform", "value": i} for i in range(20)]
    value = {f"k{i}": "{{ steps.p" + str(i) + ".output }}" for i in range(20)}
    node = {"id": "c", "type": "transform", "needs": [f"p{i}" for i in range(20)], "value": value}
    assert _problems({"name": "t", "nodes": [*parents, node]}) == []
    value["far"] = "{{ steps.x.output }}"
    x = {"id": "x", "type": "transform", "value": 1}
    assert _problems({"name": "t", "nodes": [*parents, x, node]}) == [
        ("nodes[21].value", "c", "step 'x' is not upstream of 'c'; add it to needs")
    ]


def test_the_fields_that_may_nest_without_bound_are_the_json_values() -> None:
    models: list[type[BaseModel]] = [AgentSpec, *NODE_TYPES]
    found = {model.__name__: free_fields(model) for model in models}
    assert found == {
        "AgentSpec": ("inputs", "nodes", "output"),
        "LlmNode": ("default", "prompt", "output_schema"),
        "AgentNode": ("default", "prompt", "output_schema", "knowledge_search"),
        "RetrievalNode": ("default", "filters"),
        "ToolNode": ("default", "args"),
        "HttpNode": ("default", "json_body"),
        "TransformNode": ("default", "value"),
        "HumanNode": ("default", "response_schema"),
        "SubagentNode": ("default", "inputs"),
    }
    assert free_fields(KnowledgeSearch) == ("filters",)


def _nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"k": value}
    return value


# (a node holding `v`, the field the error names, how many levels above `v` that field is)
PLACES: list[tuple[Any, str, int]] = [
    (lambda v: {"id": "a", "type": "transform", "value": v}, "nodes[0].value", 0),
    (lambda v: {"id": "a", "type": "transform", "value": 1, "default": v}, "nodes[0].default", 0),
    (lambda v: {"id": "a", "type": "tool", "tool": "t.x", "args": v}, "nodes[0].args", 0),
    (lambda v: {"id": "a", "type": "http", "url": "https://e.org", "json": v}, "nodes[0].json", 0),
    (lambda v: {"id": "a", "type": "subagent", "agent": "b", "inputs": v}, "nodes[0].inputs", 0),
    (
        lambda v: (
            {"id": "a", "type": "retrieval", "knowledge_bases": ["k"], "query": "q"}
            | {"filters": {"k": [v]}}
        ),
        "nodes[0].filters",
        2,
    ),
    (
        lambda v: {"id": "a", "type": "llm", "prompt": "p", "output_schema": v},
        "nodes[0].output_schema",
        0,
    ),
    (
        lambda v: {"id": "a", "type": "llm", "prompt": {"ref": "p", "variables": v}},
        "nodes[0].prompt",
        1,
    ),
    (
        lambda v: {"id": "a", "type": "agent", "prompt": "p", "knowledge_search": {"filters": v}},
        "nodes[0].knowledge_search",
        1,
    ),
    (lambda v: {"id": "a", "type": "human", "message": "m", "schema": v}, "nodes[0].schema", 0),
]


@pytest.mark.parametrize(("make", "field", "above"), PLACES)
def test_a_json_value_nested_past_the_limit_is_refused_naming_its_field(
    make: Any, field: str, above: int
) -> None:
    # A node's field is level 4: the document, `nodes`, the node, the field's value.
    deepest = _nested(MAX_DEPTH - 3 - above)
    assert _depth_problems({"name": "t", "nodes": [make(deepest)]}) == []
    past = _depth_problems({"name": "t", "nodes": [make({"k": deepest})]})
    assert past == [(field, "a", f"nested deeper than {MAX_DEPTH} levels")]


def _depth_problems(data: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """The nesting problem of a definition, if that is what it has (filters, for one, may
    refuse nested values for their own reasons)."""
    try:
        parse_definition(data)
    except SpecError as exc:
        return [(p.loc, p.node, p.msg) for p in exc.problems if p.msg.startswith("nested")]
    return []


@pytest.mark.parametrize("key", ["output", "inputs"])
def test_a_top_level_value_nested_past_the_limit_is_refused(key: str) -> None:
    base = {"name": "t", "nodes": [{"id": "a", "type": "transform", "value": 1}]}
    parse_definition({**base, key: _nested(MAX_DEPTH - 1)})
    with pytest.raises(SpecError) as info:
        parse_definition({**base, key: _nested(MAX_DEPTH)})
    assert [(p.loc, p.msg) for p in info.value.problems] == [
        (key, f"nested deeper than {MAX_DEPTH} levels")
    ]


def test_too_deep_wins_over_schema_problems() -> None:
    data = {"name": "t", "nodes": [{"id": "a", "type": "transform", "value": _nested(300), "x": 1}]}
    with pytest.raises(SpecError) as info:
        parse_definition(data)
    assert [p.loc for p in info.value.problems] == ["nodes[0].value"]

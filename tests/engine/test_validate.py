from __future__ import annotations

import pytest

from agentdeck.engine import SpecError, parse_spec, validate
from agentdeck.engine.spec import AgentSpec
from agentdeck.engine.validate import parse_definition


def spec(*nodes: str, output: str | None = None) -> AgentSpec:
    body = "name: t\nnodes:\n" + "".join(f"  - {n}\n" for n in nodes)
    if output:
        body += f"output: {output!r}\n"
    return AgentSpec.model_validate(__import__("yaml").safe_load(body))


def problems(s: AgentSpec, **known: object) -> set[tuple[str, str | None, str]]:
    return {(p.loc, p.node, p.msg) for p in validate(s, **known)}  # type: ignore[arg-type]


def test_valid_spec_has_no_problems() -> None:
    s = spec(
        "{id: a, type: transform, value: '{{ inputs.x }}'}",
        "{id: b, type: transform, needs: [a], value: '{{ steps.a.output }}'}",
    )
    assert validate(s) == []


def test_duplicate_ids() -> None:
    s = spec("{id: a, type: transform, value: 1}", "{id: a, type: transform, value: 2}")
    [(loc, node, msg)] = problems(s)
    assert (loc, node) == ("nodes[1].id", "a")
    assert "duplicate" in msg


def test_unknown_needs_and_self_need() -> None:
    s = spec("{id: a, type: transform, value: 1, needs: [zz, a]}")
    found = problems(s)
    assert ("nodes[0].needs", "a", "unknown node 'zz'") in found
    assert ("nodes[0].needs", "a", "a node cannot need itself") in found


def test_cycle_names_its_nodes() -> None:
    s = spec(
        "{id: a, type: transform, value: 1, needs: [c]}",
        "{id: b, type: transform, value: 1, needs: [a]}",
        "{id: c, type: transform, value: 1, needs: [b]}",
        "{id: d, type: transform, value: 1}",
    )
    [(loc, _node, msg)] = problems(s)
    assert loc.endswith(".needs")
    assert msg.startswith("cycle: ")
    assert {"a", "b", "c"} == set(msg.removeprefix("cycle: ").split(" -> "))
    assert "d" not in msg


def test_template_unknown_step_name_and_not_upstream() -> None:
    s = spec(
        "{id: a, type: transform, value: 1}",
        "{id: b, type: transform, value: '{{ steps.nope.output }} {{ input.x }}'}",
        "{id: c, type: transform, value: {x: ['{{ steps[\"a\"].output }}']}}",
        "{id: d, type: transform, value: 1, when: 'steps.b.output', needs: [b]}",
        output="{{ steps.ghost.output }}",
    )
    found = problems(s)
    assert ("nodes[1].value", "b", "unknown step 'nope'") in found
    assert ("nodes[1].value", "b", "unknown name 'input'") in found
    assert (
        "nodes[2].value", "c", "step 'a' is not upstream of 'c'; add it to needs"
    ) in found  # fmt: skip
    assert ("output", None, "unknown step 'ghost'") in found
    assert not any(loc == "nodes[3].when" for loc, _, _ in found)


def test_template_syntax_error_and_item_outside_for_each() -> None:
    s = spec(
        "{id: a, type: transform, value: '{{ inputs. }}'}",
        "{id: b, type: transform, value: '{{ item }}'}",
        "{id: c, type: transform, value: '{{ item }}', for_each: 'inputs.xs'}",
    )
    found = problems(s)
    assert any(loc == "nodes[0].value" and "syntax" in msg for loc, _, msg in found)
    assert ("nodes[1].value", "b", "unknown name 'item' (only inside for_each)") in found
    assert not any(node == "c" for _, node, _ in found)


def test_on_error_targets() -> None:
    s = spec(
        "{id: a, type: transform, value: 1, on_error: nowhere}",
        "{id: b, type: transform, value: 1, on_error: b}",
        "{id: c, type: transform, value: 1, on_error: d}",
        "{id: d, type: transform, value: '{{ steps.c.error }}'}",
    )
    found = problems(s)
    assert {loc for loc, _, _ in found} == {"nodes[0].on_error", "nodes[1].on_error"}


def test_known_models_tools_agents() -> None:
    s = spec(
        "{id: a, type: llm, model: smart, prompt: hi}",
        "{id: b, type: tool, tool: kb.search}",
        "{id: c, type: agent, prompt: go, tools: [kb.search, nuke], agents: [helper, ghost]}",
        "{id: d, type: subagent, agent: ghost}",
    )
    assert problems(s) == set()  # None skips the checks
    tools = {"kb", "kb.search"}  # toolset names and <toolset>.<tool>
    found = problems(s, known_models={"default"}, known_tools=tools, known_agents={"helper"})
    assert {(loc, node) for loc, node, _ in found} == {
        ("nodes[0].model", "a"),
        ("nodes[2].tools[1]", "c"),
        ("nodes[2].agents[1]", "c"),
        ("nodes[3].agent", "d"),
    }


def test_schemas_reserved_ids_urls_and_human_for_each() -> None:
    s = spec(
        "{id: fail, type: transform, value: 1}",
        "{id: h, type: human, message: m, schema: {type: 12}, for_each: 'inputs.x'}",
        "{id: u, type: http, url: 'ftp://x'}",
    )
    locs = {loc for loc, _, _ in problems(s)}
    assert locs == {"nodes[0].id", "nodes[1].schema", "nodes[1].for_each", "nodes[2].url"}


def test_parse_spec_raises_semantic_problems() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("name: t\nnodes:\n  - {id: a, type: transform, value: 1, needs: [b]}")
    assert info.value.to_list() == [
        {"loc": "nodes[0].needs", "msg": "unknown node 'b'", "node": "a"}
    ]


def test_bad_retrieval_options_name_node_and_field() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(
            "name: t\nnodes:\n"
            "  - {id: r, type: retrieval, knowledge_bases: [], query: '', top_k: 0,"
            " mode: semantic, min_score: high}\n"
            "  - {id: s, type: agent, prompt: go, knowledge_bases: [kb],"
            " knowledge_search: {top_k: 0, max_top_k: 500, mode: fuzzy}}\n"
        )
    found = {(p["loc"], p.get("node")) for p in info.value.to_list()}
    assert found == {
        ("nodes[0].knowledge_bases", "r"),
        ("nodes[0].query", "r"),
        ("nodes[0].top_k", "r"),
        ("nodes[0].mode", "r"),
        ("nodes[0].min_score", "r"),
        ("nodes[1].knowledge_search.top_k", "s"),
        ("nodes[1].knowledge_search.max_top_k", "s"),
        ("nodes[1].knowledge_search.mode", "s"),
    }


def test_semantic_retrieval_and_knowledge_problems() -> None:
    s = spec(
        "{id: r, type: retrieval, knowledge_bases: [kb, ' ', kb, '{{ inputs.kb }}'], query: '  ',"
        " filters: {lang: {nested: 1}, tags: [], ok: [a, 1, true], later: '{{ inputs.x }}',"
        " 'bad key': 1}}",
        "{id: a, type: llm, prompt: hi, citations: true, output_schema: {type: object}}",
        "{id: b, type: agent, prompt: go, knowledge_bases: [kb], tools: [knowledge_search],"
        " knowledge_search: {top_k: 9, max_top_k: 4, filters: {x: [[1]]}}}",
        "{id: c, type: agent, prompt: go, knowledge_search: {top_k: 2}}",
    )
    found = problems(s)
    assert {(loc, node) for loc, node, _ in found} == {
        ("nodes[0].knowledge_bases[1]", "r"),
        ("nodes[0].knowledge_bases[2]", "r"),
        ("nodes[0].knowledge_bases[3]", "r"),
        ("nodes[0].query", "r"),
        ("nodes[0].filters.lang", "r"),
        ("nodes[0].filters.tags", "r"),
        ("nodes[0].filters.bad key", "r"),
        ("nodes[1].citations", "a"),
        ("nodes[2].tools[0]", "b"),
        ("nodes[2].knowledge_search.top_k", "b"),
        ("nodes[2].knowledge_search.filters.x", "b"),
        ("nodes[3].knowledge_search", "c"),
    }
    messages = {loc: msg for loc, _, msg in found}
    assert messages["nodes[0].knowledge_bases[2]"] == "'kb' is listed twice"
    assert "built in" in messages["nodes[2].tools[0]"]


def _chain(n: int, *, ref: str | None = None) -> dict[str, object]:
    """n transform nodes, each needing the one before; `ref` templates read that step."""
    nodes: list[dict[str, object]] = [{"id": "n0", "type": "transform", "value": 0}]
    for i in range(1, n):
        value = "{{ steps." + (ref or f"n{i - 1}") + ".output }}"
        nodes.append({"id": f"n{i}", "type": "transform", "needs": [f"n{i - 1}"], "value": value})
    return {"name": "chain", "nodes": nodes}


def test_long_chains_validate_without_recursion() -> None:
    # 5,000 levels is far past the interpreter's recursion limit: the graph walks are loops.
    assert len(parse_definition(_chain(5000), max_nodes=5000).nodes) == 5000
    assert parse_definition(_chain(3000, ref="n0"), max_nodes=3000).nodes[-1].id == "n2999"


def test_a_step_far_upstream_is_upstream_and_a_sibling_is_not() -> None:
    s = spec(
        "{id: a, type: transform, value: 1}",
        "{id: b, type: transform, needs: [a], value: 1}",
        "{id: c, type: transform, needs: [b], value: '{{ steps.a.output }}'}",
        "{id: d, type: transform, needs: [a], value: '{{ steps.c.output }}'}",
        "{id: e, type: transform, value: 1, on_error: f}",
        "{id: f, type: transform, value: '{{ steps.e.error }}'}",
    )
    [(loc, node, msg)] = problems(s)
    assert (loc, node) == ("nodes[3].value", "d")
    assert "'c' is not upstream" in msg


def test_a_cycle_in_a_long_chain_is_found() -> None:
    data = _chain(3000)
    data["nodes"][0]["needs"] = ["n2999"]  # type: ignore[index]
    with pytest.raises(SpecError) as exc:
        parse_definition(data, max_nodes=3000)
    [problem] = exc.value.problems
    assert problem.loc == "nodes[1].needs"
    assert problem.msg.startswith("cycle: n1 -> n2 -> n3") and problem.msg.endswith("n0 -> n1")
    assert "... 2985 more" in problem.msg


def test_the_node_limit_is_checked_before_the_schema() -> None:
    with pytest.raises(SpecError) as exc:
        parse_definition(_chain(11), max_nodes=10)
    assert [(p.loc, p.msg) for p in exc.value.problems] == [
        ("nodes", "11 nodes; a definition may have at most 10")
    ]


def test_depth_is_bounded_and_names_the_field() -> None:
    deep: object = 1
    for _ in range(10_000):
        deep = [deep]
    data = {"name": "d", "nodes": [{"id": "a", "type": "transform", "value": deep}]}
    with pytest.raises(SpecError) as exc:
        parse_definition(data)
    [problem] = exc.value.problems
    assert (problem.loc, problem.node) == ("nodes[0].value", "a")
    ok = {"name": "d", "inputs": {"type": "object", "properties": {"x": {"type": "string"}}}}
    parse_definition({**ok, "nodes": [{"id": "a", "type": "transform", "value": [[[1]]]}]})


def test_yaml_aliases_count_what_they_expand_to() -> None:
    levels = "".join(
        f"      - &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 7)
    )
    text = "name: b\nnodes:\n  - id: a\n    type: transform\n    value:\n      - &l0 [1, 2]\n"
    with pytest.raises(SpecError) as exc:
        parse_spec(text + levels)
    assert exc.value.problems[0].loc == "nodes[0].value"
    parse_spec(text + "      - *l0\n")  # a small alias is fine

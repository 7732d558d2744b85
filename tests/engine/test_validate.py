from __future__ import annotations

import pytest

from agentdeck.engine import SpecError, parse_spec, validate
from agentdeck.engine.spec import AgentSpec


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
        "{id: b, type: tool, tool: search}",
        "{id: c, type: agent, prompt: go, tools: [search, nuke], agents: [helper, ghost]}",
        "{id: d, type: subagent, agent: ghost}",
    )
    assert problems(s) == set()  # None skips the checks
    found = problems(s, known_models={"default"}, known_tools={"search"}, known_agents={"helper"})
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

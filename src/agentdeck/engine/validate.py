"""Parse agent definitions from YAML/JSON and check them beyond what the schema can say.

Every problem names where it is (`nodes[2].needs`) and, when known, the node id, so an editor
can point at the line to fix.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import jsonschema
import yaml
from pydantic import ValidationError

from agentdeck.engine import templates
from agentdeck.engine.errors import Problem, SpecError, TemplateError
from agentdeck.engine.nodes._knowledge import KNOWLEDGE_TOOL
from agentdeck.engine.nodes.retrieval import filter_problem
from agentdeck.engine.spec import (
    AgentNode,
    AgentSpec,
    HttpNode,
    HumanNode,
    LlmNode,
    Node,
    RetrievalNode,
    SubagentNode,
    ToolNode,
)

MAX_SPEC_BYTES = 1_000_000
RESERVED_IDS = frozenset({"fail", "continue"})
_NODE_TAGS = frozenset(
    {"llm", "agent", "retrieval", "tool", "http", "transform", "human", "subagent"}
)


def format_loc(loc: Sequence[int | str]) -> str:
    """`("nodes", 2, "needs")` -> `nodes[2].needs`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _load_document(text: str, content_type: str) -> Any:
    kind = content_type.lower()
    try:
        if "json" in kind:
            return json.loads(text)
        if "yaml" in kind or "yml" in kind:
            return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError([Problem(loc="", msg=f"not valid {kind}: {exc}")]) from exc
    raise SpecError([Problem(loc="", msg=f"unsupported content type {content_type!r}")])


def _raw_node_id(data: Any, index: int) -> str | None:
    try:
        node_id = data["nodes"][index]["id"]
    except (KeyError, IndexError, TypeError):
        return None
    return node_id if isinstance(node_id, str) else None


def problems_from_validation_error(exc: ValidationError, data: Any) -> list[Problem]:
    """Map Pydantic errors to problems: drop the union tag from locs and name the node."""
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        node_id = None
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            node_id = _raw_node_id(data, loc[1])
            if len(loc) >= 3 and loc[2] in _NODE_TAGS:
                del loc[2]
            elif error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc.append("type")
        problems.append(Problem(loc=format_loc(loc), msg=error["msg"], node=node_id))
    return problems


def parse_spec(
    text: str,
    content_type: str = "application/yaml",
    *,
    known_models: Collection[str] | None = None,
    known_tools: Collection[str] | None = None,
    known_agents: Collection[str] | None = None,
) -> AgentSpec:
    """Parse and fully validate a YAML or JSON agent definition.

    Raises SpecError listing every problem found (syntax, schema, then semantics).
    """
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecError([Problem(loc="", msg=f"definition larger than {MAX_SPEC_BYTES} bytes")])
    data = _load_document(text, content_type)
    if not isinstance(data, dict):
        raise SpecError([Problem(loc="", msg="the definition must be a mapping")])
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from_validation_error(exc, data)) from exc
    problems = validate(
        spec, known_models=known_models, known_tools=known_tools, known_agents=known_agents
    )
    if problems:
        raise SpecError(problems)
    return spec


def validate(
    spec: AgentSpec,
    *,
    known_models: Collection[str] | None = None,
    known_tools: Collection[str] | None = None,
    known_agents: Collection[str] | None = None,
) -> list[Problem]:
    """Semantic checks of a schema-valid definition; an empty list means it is runnable.

    Checks ids, `needs`, cycles, `on_error` targets, template references and schemas, and
    (when the sets are given, None skips the check) model aliases, tools and agents.
    """
    problems: list[Problem] = []
    index = _check_ids(spec, problems)
    _check_edges(spec, index, problems)
    cycle = _find_cycle(spec, index)
    if cycle:
        first = cycle[0]
        problems.append(
            Problem(
                loc=f"nodes[{index[first]}].needs",
                msg="cycle: " + " -> ".join([*cycle, first]),
                node=first,
            )
        )
    ancestors = None if cycle else _ancestors(spec, index)
    for i, node in enumerate(spec.nodes):
        _check_templates(node, i, ancestors, index, problems)
        _check_known(
            node,
            i,
            known_models=known_models,
            known_tools=known_tools,
            known_agents=known_agents,
            problems=problems,
        )
        _check_schemas(node, i, problems)
        _check_knowledge(node, i, problems)
    _check_output(spec, index, problems)
    if spec.inputs is not None:
        _check_schema_doc(spec.inputs, "inputs", None, problems)
    return problems


def _check_ids(spec: AgentSpec, problems: list[Problem]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, node in enumerate(spec.nodes):
        if node.id in RESERVED_IDS:
            problems.append(Problem(f"nodes[{i}].id", f"{node.id!r} is reserved", node.id))
        if node.id in index:
            msg = f"duplicate id {node.id!r} (first used by nodes[{index[node.id]}])"
            problems.append(Problem(f"nodes[{i}].id", msg, node.id))
        else:
            index[node.id] = i
    return index


def _check_edges(spec: AgentSpec, index: dict[str, int], problems: list[Problem]) -> None:
    for i, node in enumerate(spec.nodes):
        for need in node.needs:
            if need == node.id:
                problems.append(Problem(f"nodes[{i}].needs", "a node cannot need itself", node.id))
            elif need not in index:
                problems.append(Problem(f"nodes[{i}].needs", f"unknown node {need!r}", node.id))
        target = node.on_error
        if target not in RESERVED_IDS:
            if target == node.id:
                msg = "on_error cannot route to the node itself"
                problems.append(Problem(f"nodes[{i}].on_error", msg, node.id))
            elif target not in index:
                msg = f"unknown node {target!r} (use fail, continue or a node id)"
                problems.append(Problem(f"nodes[{i}].on_error", msg, node.id))


def _edges(spec: AgentSpec, index: dict[str, int]) -> dict[str, list[str]]:
    """Upstream ids of each node: explicit needs plus nodes routing errors to it."""
    up: dict[str, list[str]] = {node.id: [] for node in spec.nodes}
    for node in spec.nodes:
        up[node.id].extend(n for n in node.needs if n in index and n != node.id)
        if node.on_error in index and node.on_error != node.id:
            up[node.on_error].append(node.id)
    return up


def _find_cycle(spec: AgentSpec, index: dict[str, int]) -> list[str]:
    up = _edges(spec, index)
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node_id: str) -> list[str]:
        state[node_id] = 1
        stack.append(node_id)
        for parent in up[node_id]:
            if state.get(parent) == 1:
                cycle = stack[stack.index(parent) :]
                return list(reversed(cycle))
            if parent not in state:
                found = visit(parent)
                if found:
                    return found
        stack.pop()
        state[node_id] = 2
        return []

    for node in spec.nodes:
        if node.id not in state:
            found = visit(node.id)
            if found:
                return found
    return []


def _ancestors(spec: AgentSpec, index: dict[str, int]) -> dict[str, set[str]]:
    up = _edges(spec, index)
    memo: dict[str, set[str]] = {}

    def of(node_id: str) -> set[str]:
        if node_id not in memo:
            found: set[str] = set()
            for parent in up[node_id]:
                found.add(parent)
                found |= of(parent)
            memo[node_id] = found
        return memo[node_id]

    for node in spec.nodes:
        of(node.id)
    return memo


def _template_fields(node: Node) -> Iterable[tuple[str, Any, bool]]:
    """(field, value, is_bare_expression) for each templated field that is set."""
    if node.when is not None:
        yield "when", node.when, True
    if node.for_each is not None:
        yield "for_each", node.for_each, True
    for field in node.TEMPLATED:
        value = getattr(node, field)
        if value is None:
            continue
        if isinstance(value, list):  # messages
            value = [v.model_dump() if hasattr(v, "model_dump") else v for v in value]
        alias = type(node).model_fields[field].alias or field
        yield alias, value, False


def _check_templates(
    node: Node,
    i: int,
    ancestors: dict[str, set[str]] | None,
    index: dict[str, int],
    problems: list[Problem],
) -> None:
    for field, value, bare in _template_fields(node):
        loc = f"nodes[{i}].{field}"
        try:
            names, steps = templates.references(value, expression=bare)
        except TemplateError as exc:
            problems.append(Problem(loc, str(exc), node.id))
            continue
        allowed = (
            templates.CONTEXT_NAMES
            if node.for_each and field != "for_each"
            else (templates.CONTEXT_NAMES - {"item"})
        )
        for name in sorted(names - allowed):
            hint = " (only inside for_each)" if name == "item" else ""
            problems.append(Problem(loc, f"unknown name {name!r}{hint}", node.id))
        for step in sorted(steps):
            if step not in index:
                problems.append(Problem(loc, f"unknown step {step!r}", node.id))
            elif ancestors is not None and step not in ancestors[node.id]:
                msg = f"step {step!r} is not upstream of {node.id!r}; add it to needs"
                problems.append(Problem(loc, msg, node.id))


def _check_output(spec: AgentSpec, index: dict[str, int], problems: list[Problem]) -> None:
    try:
        names, steps = templates.references(spec.output)
    except TemplateError as exc:
        problems.append(Problem("output", str(exc)))
        return
    for name in sorted(names - (templates.CONTEXT_NAMES - {"item"})):
        problems.append(Problem("output", f"unknown name {name!r}"))
    for step in sorted(steps - set(index)):
        problems.append(Problem("output", f"unknown step {step!r}"))


def _check_known(
    node: Node,
    i: int,
    *,
    known_models: Collection[str] | None,
    known_tools: Collection[str] | None,
    known_agents: Collection[str] | None,
    problems: list[Problem],
) -> None:
    def check(value: str, known: Collection[str] | None, loc: str, what: str) -> None:
        if known is not None and value not in known:
            problems.append(Problem(f"nodes[{i}].{loc}", f"unknown {what} {value!r}", node.id))

    if isinstance(node, LlmNode | AgentNode):
        check(node.model, known_models, "model", "model alias")
    if isinstance(node, ToolNode):
        check(node.tool, known_tools, "tool", "tool")
    if isinstance(node, AgentNode):
        for j, tool in enumerate(node.tools):
            check(tool, known_tools, f"tools[{j}]", "tool")
        for j, agent in enumerate(node.agents):
            check(agent, known_agents, f"agents[{j}]", "agent")
    if isinstance(node, SubagentNode):
        check(node.agent, known_agents, "agent", "agent")
    url = node.url if isinstance(node, HttpNode) else None
    if url and not templates.is_template(url) and not url.startswith(("http://", "https://")):
        problems.append(Problem(f"nodes[{i}].url", "must be an http(s) URL", node.id))


def _check_filters(filters: Any, loc: str, node_id: str, problems: list[Problem]) -> None:
    """Static metadata filters (templated values are checked when rendered)."""
    if not isinstance(filters, dict):
        return
    for key, value in filters.items():
        if templates.needs_rendering(value):
            continue
        problem = filter_problem({key: value})
        if problem is not None:
            problems.append(Problem(f"{loc}.{key}", problem, node_id))


def _check_knowledge_bases(
    names: list[str], loc: str, node_id: str, problems: list[Problem]
) -> None:
    seen: set[str] = set()
    for j, name in enumerate(names):
        if not name.strip():
            problems.append(
                Problem(f"{loc}[{j}]", "a knowledge base name cannot be blank", node_id)
            )
        elif templates.is_template(name):
            msg = "knowledge bases are names or ids, not templates"
            problems.append(Problem(f"{loc}[{j}]", msg, node_id))
        elif name in seen:
            problems.append(Problem(f"{loc}[{j}]", f"{name!r} is listed twice", node_id))
        seen.add(name)


def _check_knowledge(node: Node, i: int, problems: list[Problem]) -> None:
    """Retrieval options, the knowledge tool and citations, each named by node and field."""
    where = f"nodes[{i}]"
    if isinstance(node, RetrievalNode):
        _check_knowledge_bases(node.knowledge_bases, f"{where}.knowledge_bases", node.id, problems)
        if not node.query.strip():
            problems.append(Problem(f"{where}.query", "the query cannot be blank", node.id))
        _check_filters(node.filters, f"{where}.filters", node.id, problems)
    if isinstance(node, LlmNode | AgentNode) and node.citations and node.output_schema:
        msg = "citations need a text answer; remove output_schema or citations"
        problems.append(Problem(f"{where}.citations", msg, node.id))
    if not isinstance(node, AgentNode):
        return
    options = node.knowledge_search
    if node.knowledge_bases:
        _check_knowledge_bases(node.knowledge_bases, f"{where}.knowledge_bases", node.id, problems)
        for j, tool in enumerate(node.tools):
            if tool == KNOWLEDGE_TOOL:
                msg = f"{KNOWLEDGE_TOOL!r} is built in with knowledge_bases; remove it from tools"
                problems.append(Problem(f"{where}.tools[{j}]", msg, node.id))
    elif "knowledge_search" in node.model_fields_set:
        msg = "knowledge_search options need knowledge_bases"
        problems.append(Problem(f"{where}.knowledge_search", msg, node.id))
    if options.top_k > options.max_top_k:
        msg = f"top_k ({options.top_k}) is above max_top_k ({options.max_top_k})"
        problems.append(Problem(f"{where}.knowledge_search.top_k", msg, node.id))
    _check_filters(options.filters, f"{where}.knowledge_search.filters", node.id, problems)


def _check_schemas(node: Node, i: int, problems: list[Problem]) -> None:
    if isinstance(node, LlmNode | AgentNode) and node.output_schema is not None:
        _check_schema_doc(node.output_schema, f"nodes[{i}].output_schema", node.id, problems)
    if isinstance(node, HumanNode) and node.for_each is not None:
        msg = "a human node cannot use for_each"
        problems.append(Problem(f"nodes[{i}].for_each", msg, node.id))
    if isinstance(node, HumanNode) and node.response_schema is not None:
        _check_schema_doc(node.response_schema, f"nodes[{i}].schema", node.id, problems)


def _check_schema_doc(
    schema: dict[str, Any], loc: str, node_id: str | None, problems: list[Problem]
) -> None:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        problems.append(Problem(loc, f"not a valid JSON Schema: {exc.message}", node_id))

"""Parse agent definitions from YAML/JSON and check them beyond what the schema can say.

Every problem names where it is (`nodes[2].needs`) and, when known, the node id, so an editor
can point at the line to fix. Every check is linear in the size of the definition: the
document is bounded before the schema sees it (bytes, nodes, nesting, YAML alias expansion),
and the graph checks walk each node and edge a bounded number of times.
"""

from __future__ import annotations

import functools
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
    NodeBase,
    RetrievalNode,
    SubagentNode,
    ToolNode,
)
from agentdeck.kit import nesting, yamlsafe

MAX_SPEC_BYTES = 1_000_000
MAX_NODES = 2000
"""Default node-count limit; the API passes its setting (`agents.max_nodes`)."""
MAX_DEPTH = 100
"""Most levels a definition nests, counted from the document itself (level 1)."""
VALUES_PER_NODE = 50
"""YAML budget: a document may expand (aliases included) to this many values per node."""
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


def _field_loc(path: Sequence[int | str]) -> str:
    """The field a deep path lies in: `nodes[i].<field>` for a node, else the top key."""
    if len(path) >= 3 and path[0] == "nodes" and isinstance(path[1], int):
        return format_loc(path[:3])
    return format_loc(path[:1])


def _node_of(data: Any, path: Sequence[int | str]) -> str | None:
    if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
        return _raw_node_id(data, path[1])
    return None


def _load_document(text: str, content_type: str, max_nodes: int) -> Any:
    kind = content_type.lower()
    try:
        if "json" in kind:
            return json.loads(text)
        if "yaml" in kind or "yml" in kind:
            budget = max(10_000, VALUES_PER_NODE * max_nodes)
            return yamlsafe.load(text, max_nodes=budget, max_depth=MAX_DEPTH)
    except yamlsafe.YamlLimitError as exc:
        loc = _field_loc(exc.path) or "definition"
        raise SpecError([Problem(loc=loc, msg=exc.message)]) from exc
    except RecursionError as exc:  # JSON nested deeper than the interpreter's stack
        raise SpecError([Problem(loc="", msg=f"nested deeper than {MAX_DEPTH} levels")]) from exc
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError([Problem(loc="", msg=f"not valid {kind}: {exc}")]) from exc
    raise SpecError([Problem(loc="", msg=f"unsupported content type {content_type!r}")])


def check_bounds(data: Any, *, max_nodes: int = MAX_NODES) -> None:
    """Refuse a loaded definition too large or too deep to validate cheaply.

    Raises SpecError naming `nodes` (more than ``max_nodes``) or the field that nests deeper
    than MAX_DEPTH levels (`nodes[3].value`).
    """
    if not isinstance(data, dict):
        raise SpecError([Problem(loc="", msg="the definition must be a mapping")])
    nodes = data.get("nodes")
    if isinstance(nodes, list) and len(nodes) > max_nodes:
        msg = f"{len(nodes)} nodes; a definition may have at most {max_nodes}"
        raise SpecError([Problem(loc="nodes", msg=msg)])
    path = nesting.too_deep(data, MAX_DEPTH)
    if path is not None:
        msg = f"nested deeper than {MAX_DEPTH} levels"
        raise SpecError([Problem(loc=_field_loc(path), msg=msg, node=_node_of(data, path))])


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
    max_nodes: int = MAX_NODES,
    known_models: Collection[str] | None = None,
    known_tools: Collection[str] | None = None,
    known_agents: Collection[str] | None = None,
) -> AgentSpec:
    """Parse and fully validate a YAML or JSON agent definition.

    Raises SpecError listing every problem found (syntax and bounds, schema, then
    semantics): see :func:`parse_definition`.
    """
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecError([Problem(loc="", msg=f"definition larger than {MAX_SPEC_BYTES} bytes")])
    data = _load_document(text, content_type, max_nodes)
    return parse_definition(
        data,
        max_nodes=max_nodes,
        known_models=known_models,
        known_tools=known_tools,
        known_agents=known_agents,
    )


def parse_definition(
    data: Any,
    *,
    max_nodes: int = MAX_NODES,
    known_models: Collection[str] | None = None,
    known_tools: Collection[str] | None = None,
    known_agents: Collection[str] | None = None,
) -> AgentSpec:
    """Validate an already loaded definition (a JSON body, a parsed document).

    Raises SpecError: above ``max_nodes`` nodes or MAX_DEPTH levels (see
    :func:`check_bounds`), then every schema problem, then every semantic one.
    """
    check_bounds(data, max_nodes=max_nodes)
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
    up = _edges(spec, index)
    order = _topological(up)
    cycle = _find_cycle(spec, up, order)
    if cycle:
        first = cycle[0]
        problems.append(
            Problem(
                loc=f"nodes[{index[first]}].needs",
                msg="cycle: " + _path_text([*cycle, first]),
                node=first,
            )
        )
    upstream = None if cycle else _Upstream(up, order)
    not_upstream: list[tuple[tuple[str, str], Problem]] = []
    for i, node in enumerate(spec.nodes):
        _check_templates(node, i, upstream, index, problems, not_upstream)
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
    if upstream is not None:
        missing = upstream.resolve()
        for pair, problem in not_upstream:
            if pair in missing:
                problems.append(problem)
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


def _topological(up: dict[str, list[str]]) -> list[str]:
    """Ids ordered so that each follows its upstream nodes (Kahn's algorithm); the nodes of
    a cycle, and those downstream of one, are left out."""
    waiting = {node_id: len(parents) for node_id, parents in up.items()}
    down: dict[str, list[str]] = {node_id: [] for node_id in up}
    for node_id, parents in up.items():
        for parent in parents:
            down[parent].append(node_id)
    order = [node_id for node_id, n in waiting.items() if n == 0]
    for node_id in order:  # the list grows while it is walked
        for child in down[node_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                order.append(child)
    return order


def _find_cycle(spec: AgentSpec, up: dict[str, list[str]], order: list[str]) -> list[str]:
    """One cycle as ids in run order (each needs the one before), or [].

    Every node the topological order left out has an upstream node also left out, so
    walking upstream among them must come back to a node already seen.
    """
    if len(order) == len(up):
        return []
    left = set(up).difference(order)
    seen: dict[str, int] = {}
    walk: list[str] = []
    current = next(node.id for node in spec.nodes if node.id in left)
    while current not in seen:
        seen[current] = len(walk)
        walk.append(current)
        current = next(parent for parent in up[current] if parent in left)
    return walk[seen[current] :][::-1]


def _path_text(ids: list[str], keep: int = 8) -> str:
    """`a -> b -> c`, the middle of a long path elided."""
    if len(ids) <= 2 * keep:
        return " -> ".join(ids)
    hidden = len(ids) - 2 * keep
    return " -> ".join([*ids[:keep], f"... {hidden} more", *ids[-keep:]])


class _Upstream:
    """Answers "is `step` upstream of `node`?" for the template checks, in linear time.

    Most references name a direct upstream node (a `needs` entry); those are answered from
    the edges. The others share one pass in topological order that carries, per node, a
    bit set (a Python int) of just the steps such references name.
    """

    def __init__(self, up: dict[str, list[str]], order: list[str]) -> None:
        self.up = up
        self.order = order
        self.direct: dict[str, set[str]] = {}  # built for the nodes that ask
        self.far: list[tuple[str, str]] = []  # (node, step) pairs to answer in one pass

    def check(self, node_id: str, step: str) -> bool | None:
        """True when `step` is a direct upstream node; None: ask again after :meth:`resolve`."""
        direct = self.direct.get(node_id)
        if direct is None:
            direct = self.direct[node_id] = set(self.up[node_id])
        if step in direct:
            return True
        self.far.append((node_id, step))
        return None

    def resolve(self) -> set[tuple[str, str]]:
        """The (node, step) pairs asked for where `step` is not upstream of `node`."""
        if not self.far:
            return set()
        bits = {step: 1 << i for i, step in enumerate(dict.fromkeys(s for _, s in self.far))}
        reach: dict[str, int] = {}
        for node_id in self.order:
            mask = 0
            for parent in self.up[node_id]:
                mask |= reach[parent] | bits.get(parent, 0)
            reach[node_id] = mask
        return {(n, s) for n, s in self.far if not reach[n] & bits[s]}


@functools.cache
def _alias(model: type[NodeBase], field: str) -> str:
    return model.model_fields[field].alias or field


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
        yield _alias(type(node), field), value, False


def _check_templates(
    node: Node,
    i: int,
    upstream: _Upstream | None,
    index: dict[str, int],
    problems: list[Problem],
    not_upstream: list[tuple[tuple[str, str], Problem]],
) -> None:
    """Template syntax and names; a step that may not be upstream goes to `not_upstream`
    as ((node, step), problem), kept only if :meth:`_Upstream.resolve` confirms it."""
    for field, value, bare in _template_fields(node):
        if not bare and not isinstance(value, str | dict | list):
            continue  # a number, boolean or null holds no template
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
            elif upstream is not None and upstream.check(node.id, step) is None:
                msg = f"step {step!r} is not upstream of {node.id!r}; add it to needs"
                not_upstream.append(((node.id, step), Problem(loc, msg, node.id)))


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
        _check_tool(node.tool, known_tools, f"nodes[{i}].tool", node.id, problems, whole=False)
    if isinstance(node, AgentNode):
        for j, tool in enumerate(node.tools):
            _check_tool(tool, known_tools, f"nodes[{i}].tools[{j}]", node.id, problems)
        _check_approve(node, i, problems)
        for j, agent in enumerate(node.agents):
            check(agent, known_agents, f"agents[{j}]", "agent")
    if isinstance(node, SubagentNode):
        check(node.agent, known_agents, "agent", "agent")
    url = node.url if isinstance(node, HttpNode) else None
    if url and not templates.is_template(url) and not url.startswith(("http://", "https://")):
        problems.append(Problem(f"nodes[{i}].url", "must be an http(s) URL", node.id))


def _check_tool(
    ref: str,
    known: Collection[str] | None,
    loc: str,
    node_id: str,
    problems: list[Problem],
    *,
    whole: bool = True,
) -> None:
    """A tool reference: `<toolset>.<tool>`, or (``whole``) a toolset's name; the toolset
    and the tool must exist when ``known`` (every toolset name and `<toolset>.<tool>`) is
    given (None: no check)."""
    if known is None:
        return
    toolset, dot, tool = ref.partition(".")
    if not whole and not dot:
        problems.append(Problem(loc, f"name one tool as <toolset>.<tool>, not {ref!r}", node_id))
    elif ref in known:
        return
    elif toolset not in known:
        problems.append(Problem(loc, f"unknown toolset {toolset!r}", node_id))
    else:
        problems.append(Problem(loc, f"the toolset {toolset!r} has no tool {tool!r}", node_id))


def _check_approve(node: AgentNode, i: int, problems: list[Problem]) -> None:
    """Each `approve` entry is one tool (`<toolset>.<tool>`) the node offers."""
    offered = set(node.tools)
    for j, ref in enumerate(node.approve):
        toolset, dot, _ = ref.partition(".")
        if not dot:
            msg = f"name one tool as <toolset>.<tool>, not {ref!r}"
        elif ref not in offered and toolset not in offered:
            msg = f"{ref!r} is not among the node's tools"
        else:
            continue
        problems.append(Problem(f"nodes[{i}].approve[{j}]", msg, node.id))


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

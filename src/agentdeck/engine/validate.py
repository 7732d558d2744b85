"""Parse agent definitions from YAML/JSON and check them beyond what the schema can say.

Every problem names where it is (`nodes[2].needs`) and, when known, the node id, so an editor
can point at the line to fix. Every check is linear in the size of the definition, and
each part of it is walked a bounded number of times: the document is bounded before the
schema sees it (bytes, nodes, YAML alias expansion and nesting), its nesting is checked
where the schema leaves it open (`_validate_depth`), the graph checks walk each node and
edge a few times (`_validate_graph`), and a node gets only the checks its type needs, each
template read once (plain `{{ a.b }}` lookups without Jinja's parser).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import jsonschema
import yaml
from pydantic import ValidationError

from agentdeck.engine import _validate_graph as graph
from agentdeck.engine import templates
from agentdeck.engine._validate_depth import may_be_too_deep
from agentdeck.engine.errors import Problem, SpecError, TemplateError
from agentdeck.engine.nodes.knowledge_tool import KNOWLEDGE_TOOL
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
RESERVED_IDS = graph.RESERVED_IDS
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
    _check_size(data, max_nodes)
    _check_depth(data)


def _check_size(data: Any, max_nodes: int) -> None:
    if not isinstance(data, dict):
        raise SpecError([Problem(loc="", msg="the definition must be a mapping")])
    nodes = data.get("nodes")
    if isinstance(nodes, list) and len(nodes) > max_nodes:
        msg = f"{len(nodes)} nodes; a definition may have at most {max_nodes}"
        raise SpecError([Problem(loc="nodes", msg=msg)])


def _check_depth(data: Any) -> None:
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
    # The schema copes with any nesting (past its own limit it reports one error), so the
    # depth is checked on the document only where the schema failed or a JSON value of the
    # validated definition may be too deep: the document is walked once, not twice.
    _check_size(data, max_nodes)
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as exc:
        _check_depth(data)
        raise SpecError(problems_from_validation_error(exc, data)) from exc
    if may_be_too_deep(spec, MAX_DEPTH):
        _check_depth(data)
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
    nodes = spec.nodes
    index = graph.check_ids(nodes, problems)
    up = graph.edges(nodes, index, problems)
    order = graph.topological(up)
    cycle = graph.find_cycle(nodes, up, order)
    if cycle:
        first = cycle[0]
        problems.append(
            Problem(
                loc=f"nodes[{index[first]}].needs",
                msg="cycle: " + graph.path_text([*cycle, first]),
                node=first,
            )
        )
    ctx = _Checks(
        problems,
        index,
        None if cycle else graph.Upstream(up, order),
        known_models=known_models,
        known_tools=known_tools,
        known_agents=known_agents,
    )
    checks_of: dict[type[NodeBase], tuple[_Check, ...]] = {}
    for i, node in enumerate(nodes):
        checks = checks_of.get(node_type := type(node))
        if checks is None:
            checks = checks_of[node_type] = _checks_of(node_type)
        for check in checks:
            check(node, i, ctx)
    if ctx.upstream is not None:
        missing = ctx.upstream.resolve()
        for pair, problem in ctx.not_upstream:
            if pair in missing:
                problems.append(problem)
    _check_output(spec, index, problems)
    if spec.inputs is not None:
        _check_schema_doc(spec.inputs, "inputs", None, problems)
    return problems


class _Checks:
    """What the per-node checks share: the problems found, the graph and the known names."""

    __slots__ = (
        "index",
        "known_agents",
        "known_models",
        "known_tools",
        "not_upstream",
        "problems",
        "references",
        "upstream",
    )

    def __init__(
        self,
        problems: list[Problem],
        index: dict[str, int],
        upstream: graph.Upstream | None,
        *,
        known_models: Collection[str] | None,
        known_tools: Collection[str] | None,
        known_agents: Collection[str] | None,
    ) -> None:
        self.problems = problems
        self.index = index
        self.upstream = upstream
        self.known_models = known_models
        self.known_tools = known_tools
        self.known_agents = known_agents
        # A step that may not be upstream: ((node, step), problem), kept only if
        # Upstream.resolve confirms it.
        self.not_upstream: list[tuple[tuple[str, str], Problem]] = []
        # The references of each template text seen (a definition repeats its templates).
        self.references: dict[tuple[str, bool], tuple[set[str], set[str]]] = {}


_Check = Callable[[Any, int, _Checks], None]


@functools.cache
def _checks_of(node_type: type[NodeBase]) -> tuple[_Check, ...]:
    """The checks a node of this type needs, in the order their problems are listed."""
    checks: list[_Check] = [_check_templates]
    if issubclass(node_type, LlmNode | AgentNode | ToolNode | SubagentNode | HttpNode):
        checks.append(_check_known)
    if issubclass(node_type, LlmNode | AgentNode | HumanNode):
        checks.append(_check_schemas)
    if issubclass(node_type, RetrievalNode | LlmNode | AgentNode):
        checks.append(_check_knowledge)
    return tuple(checks)


@functools.cache
def _templated(node_type: type[NodeBase]) -> tuple[tuple[str, str], ...]:
    """(attribute, field name as written) of each field rendered as a template."""
    fields = node_type.model_fields
    return tuple((name, fields[name].alias or name) for name in node_type.TEMPLATED)


_NAMES = templates.CONTEXT_NAMES - {"item"}
_NAMES_IN_FOR_EACH = templates.CONTEXT_NAMES


def _check_templates(node: Node, i: int, ctx: _Checks) -> None:
    """Template syntax and names of each templated field that is set."""
    if node.when is not None:
        _check_template(node, i, "when", node.when, True, ctx)
    if node.for_each is not None:
        _check_template(node, i, "for_each", node.for_each, True, ctx)
    for attribute, field in _templated(type(node)):
        value = getattr(node, attribute)
        if isinstance(value, str):
            if templates.is_template(value):
                _check_template(node, i, field, value, False, ctx)
        elif isinstance(value, list):  # messages
            value = [v.model_dump() if hasattr(v, "model_dump") else v for v in value]
            _check_template(node, i, field, value, False, ctx)
        elif isinstance(value, dict):
            _check_template(node, i, field, value, False, ctx)
        # a number, boolean or null holds no template


def _check_template(node: Node, i: int, field: str, value: Any, bare: bool, ctx: _Checks) -> None:
    try:
        if isinstance(value, str):
            names, steps = _references(value, bare, ctx.references)
        else:
            names, steps = set(), set()
            for text in _texts(value):
                if templates.is_template(text):
                    more_names, more_steps = _references(text, False, ctx.references)
                    names |= more_names
                    steps |= more_steps
    except TemplateError as exc:
        ctx.problems.append(Problem(f"nodes[{i}].{field}", str(exc), node.id))
        return
    allowed = _NAMES_IN_FOR_EACH if node.for_each and field != "for_each" else _NAMES
    upstream = ctx.upstream
    if names <= allowed and (not steps or (upstream and upstream.all_direct(node.id, steps))):
        return  # the usual template: known names, steps the node needs
    loc = f"nodes[{i}].{field}"
    problems = ctx.problems
    for name in sorted(names - allowed):
        hint = " (only inside for_each)" if name == "item" else ""
        problems.append(Problem(loc, f"unknown name {name!r}{hint}", node.id))
    for step in sorted(steps):
        if step not in ctx.index:
            problems.append(Problem(loc, f"unknown step {step!r}", node.id))
        elif upstream is not None and upstream.check(node.id, step) is None:
            msg = f"step {step!r} is not upstream of {node.id!r}; add it to needs"
            ctx.not_upstream.append(((node.id, step), Problem(loc, msg, node.id)))


def _texts(value: Any) -> Iterator[str]:
    """The strings in a value (dicts' values and lists' items, nested), in order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


_PATH = r"\s*([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)\s*"
_LOOKUP = re.compile(r"\{\{" + _PATH + r"\}\}")
_BARE_LOOKUP = re.compile(_PATH)


def _references(
    text: str, bare: bool, seen: dict[tuple[str, bool], tuple[set[str], set[str]]]
) -> tuple[set[str], set[str]]:
    """`templates.references` of one template text (a bare expression when ``bare``),
    remembered in ``seen``. Text made only of `{{ dotted.path }}` lookups of context names
    is read here with one regular expression (as `templates` reads it, without Jinja's
    parser); anything else goes to `templates.references`. Raises TemplateError."""
    key = (text, bare)
    found = seen.get(key)
    if found is not None:
        return found
    pairs: list[tuple[str, str]] | None = None
    one = (_BARE_LOOKUP if bare else _LOOKUP).fullmatch(text)
    if one is not None:  # one lookup, the most common template
        name, rest = one.groups()
        if name in templates.CONTEXT_NAMES:
            steps = {rest.split(".", 2)[1]} if name == "steps" and rest else set()
            found = seen[key] = ({name}, steps)
            return found
    elif not bare and "{%" not in text and "{#" not in text:
        rest = _LOOKUP.sub("", text)
        if "{{" not in rest and "}}" not in rest:
            pairs = _LOOKUP.findall(text)
    if pairs is not None and all(name in templates.CONTEXT_NAMES for name, _ in pairs):
        names = {name for name, _ in pairs}
        steps = {rest.split(".", 2)[1] for name, rest in pairs if name == "steps" and rest}
        found = (names, steps)
    else:  # other names (literals, globals, unknown ones), filters, operators, statements
        found = templates.references(text, expression=bare)
    seen[key] = found
    return found


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


def _check_known(node: Node, i: int, ctx: _Checks) -> None:
    """Model aliases, tools and agents the node names (each skipped when its set is None),
    and a static `url`."""
    problems = ctx.problems
    known_models, known_tools, known_agents = ctx.known_models, ctx.known_tools, ctx.known_agents

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


def _check_knowledge(node: Node, i: int, ctx: _Checks) -> None:
    """Retrieval options, the knowledge tool and citations, each named by node and field."""
    problems = ctx.problems
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


def _check_schemas(node: Node, i: int, ctx: _Checks) -> None:
    problems = ctx.problems
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

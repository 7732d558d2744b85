"""The pure scheduler: (definition, journal state) -> what to do next. No I/O, deterministic.

Semantics, in the order they are applied to a node that has not finished:
- it waits while any upstream node (its `needs`, plus nodes routing `on_error` to it) has
  not finished;
- an error handler (a node some `on_error` names) is skipped unless a routing node failed;
- a node with a skipped upstream is skipped too, unless it declares `when`, which then
  decides alone (so a fan-in after a conditional branch can still run);
- a failed upstream with `on_error: continue` counts as done (its output is `default`);
  one with `on_error: <handler>` counts as skipped for its other dependents;
- `when` falsy -> skipped; otherwise the node is ready.
A failed node with `on_error: fail` fails the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agentdeck.engine import templates
from agentdeck.engine.errors import TemplateError
from agentdeck.engine.journal import StepRecord, StepStatus
from agentdeck.engine.spec import AgentNode, AgentSpec, LlmNode, Node, RetrievalNode

RunStatus = Literal["running", "completed", "failed", "interrupted"]
_FINISHED = {s: s.value for s in (StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.FAILED)}
# Outcomes that end a resumed node's use of its answer (a failed attempt may be retried).
_ANSWERED = (StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.INTERRUPTED)


@dataclass(frozen=True, slots=True)
class Graph:
    """Per-definition data computed once: topological order and edges."""

    order: tuple[str, ...]
    nodes: Mapping[str, Node]
    upstream: Mapping[str, tuple[str, ...]]
    routes: Mapping[str, tuple[str, ...]]  # error handler -> nodes routing to it
    last: str
    static_configs: Mapping[str, dict[str, Any]]  # nodes whose templated fields are constant
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """llm/agent node -> the retrieval nodes its templates read (its citable passages)."""
    citing: frozenset[str] = frozenset()
    """Nodes answering `{text, citations}`."""


_SCALARS = (str, int, float, bool, type(None))


def _static_config(node: Node) -> dict[str, Any] | None:
    """The node's rendered config when rendering cannot change it: scalars, no markup."""
    config: dict[str, Any] = {}
    for name in node.TEMPLATED:
        value = getattr(node, name)
        if not isinstance(value, _SCALARS) or (
            isinstance(value, str) and templates.is_template(value)
        ):
            return None
        config[name] = value
    return config


def _read_retrievals(node: Node, retrievals: list[str]) -> tuple[str, ...]:
    read: set[str] = set()
    for name in node.TEMPLATED:
        value = getattr(node, name)
        if isinstance(value, list):
            value = [v.model_dump() if hasattr(v, "model_dump") else v for v in value]
        try:
            read |= templates.references(value)[1]
        except TemplateError:  # pragma: no cover - validated specs parse
            continue
    return tuple(r for r in retrievals if r in read)  # in file order: the first one wins


def _citations(spec: AgentSpec) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """Which nodes can cite which retrieval nodes, and which answer `{text, citations}`."""
    retrievals = [n.id for n in spec.nodes if isinstance(n, RetrievalNode)]
    sources: dict[str, tuple[str, ...]] = {}
    citing: set[str] = set()
    for node in spec.nodes:
        if not isinstance(node, LlmNode | AgentNode):
            continue
        read = _read_retrievals(node, retrievals) if retrievals else ()
        if read:
            sources[node.id] = read
        knowledge = isinstance(node, AgentNode) and bool(node.knowledge_bases)
        default = (bool(read) or knowledge) and node.output_schema is None
        if node.citations if node.citations is not None else default:
            citing.add(node.id)
    return sources, frozenset(citing)


def graph_of(spec: AgentSpec) -> Graph:
    """The spec's graph, computed on first use and cached on the spec (specs are frozen)."""
    cache = spec._engine_cache
    cached = cache.get("graph")
    if isinstance(cached, Graph):
        return cached
    nodes = {n.id: n for n in spec.nodes}
    routes: dict[str, list[str]] = {n.id: [] for n in spec.nodes}
    for n in spec.nodes:
        if n.on_error in nodes:
            routes[n.on_error].append(n.id)
    upstream = {n.id: tuple(dict.fromkeys([*n.needs, *routes[n.id]])) for n in spec.nodes}
    sources, citing = _citations(spec)
    order: list[str] = []
    placed: set[str] = set()
    remaining = [n.id for n in spec.nodes]
    while remaining:  # Kahn's algorithm, ties broken by position in the file
        progress = [nid for nid in remaining if all(u in placed for u in upstream[nid])]
        if not progress:
            raise ValueError(f"cycle among {remaining}; validate the spec first")
        for nid in progress:
            order.append(nid)
            placed.add(nid)
        remaining = [nid for nid in remaining if nid not in placed]
    graph = Graph(
        order=tuple(order),
        nodes=nodes,
        upstream=upstream,
        routes={k: tuple(v) for k, v in routes.items() if v},
        last=spec.nodes[-1].id,
        static_configs={
            n.id: config for n in spec.nodes if (config := _static_config(n)) is not None
        },
        sources=sources,
        citing=citing,
    )
    cache["graph"] = graph
    return graph


@dataclass(slots=True)
class NodeState:
    status: StepStatus
    attempt: int
    output: Any = None
    error: dict[str, Any] | None = None


@dataclass(slots=True)
class RunState:
    """What the journal says about a run, folded to the latest attempt per step."""

    inputs: Any = None
    nodes: dict[str, NodeState] = field(default_factory=dict)
    items: dict[str, dict[int, NodeState]] = field(default_factory=dict)
    attempts: int = 0
    resumes: dict[str, Any] = field(default_factory=dict)
    """Node -> `{interrupt, resume}`: an interrupted node a person answered, which runs
    again with the answer (a `pending` record) until it completes or is interrupted again."""
    thread: Any = None
    env: Mapping[str, str] = field(default_factory=dict)
    _steps_view: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[StepRecord], inputs: Any = None) -> RunState:
        state = cls(inputs=inputs)
        for record in records:
            state.apply(record)
        return state

    def apply(self, record: StepRecord) -> None:
        """Fold one record in; a later attempt replaces an earlier one."""
        status = record.status
        if status is StepStatus.RUNNING:
            self.attempts += 1
        new = NodeState(status, record.attempt, record.output, record.error)
        if record.index is not None:
            slot = self.items.setdefault(record.node_id, {})
            old = slot.get(record.index)
            if old is None or old.attempt <= record.attempt:
                slot[record.index] = new
            return
        node_id = record.node_id
        old = self.nodes.get(node_id)
        if old is not None and old.attempt > record.attempt:
            return
        self.nodes[node_id] = new
        if status is StepStatus.PENDING and isinstance(record.output, dict):
            self.resumes[node_id] = record.output
        elif status in _ANSWERED:
            self.resumes.pop(node_id, None)
        if status in _FINISHED:
            self._steps_view[node_id] = {
                "output": record.output,
                "status": _FINISHED[status],
                "error": record.error,
            }
        elif old is not None:  # a finished step only enters the view after a record
            self._steps_view.pop(node_id, None)

    def context(
        self, item: Any = None, *, extra_steps: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Template context: inputs, finished steps, thread, env, and `item` when given."""
        steps = self._steps_view if not extra_steps else {**self._steps_view, **extra_steps}
        ctx = {"inputs": self.inputs, "steps": steps, "thread": self.thread, "env": self.env}
        if item is not None:
            ctx["item"] = item
        return ctx


@dataclass(frozen=True, slots=True)
class Skip:
    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    status: RunStatus
    ready: tuple[str, ...] = ()
    skip: tuple[Skip, ...] = ()
    interrupted: tuple[str, ...] = ()
    output: Any = None
    error: dict[str, Any] | None = None


_Decision = Literal["wait", "ready"] | Skip


def _decide(
    graph: Graph, node_id: str, state: RunState, virtual: dict[str, StepStatus]
) -> _Decision:
    node = graph.nodes[node_id]
    routes = graph.routes.get(node_id, ())
    skipped_by: str | None = None
    for up in graph.upstream[node_id]:
        status = virtual.get(up) if virtual else None
        if status is None:
            up_state = state.nodes.get(up)
            if up_state is None:
                return "wait"  # not started
            status = up_state.status
        # How a dependent sees `up`: done, skipped, or still to wait for.
        if status is StepStatus.COMPLETED:
            continue
        if status is StepStatus.SKIPPED:
            skipped_by = skipped_by or up
            continue
        if status is not StepStatus.FAILED:
            return "wait"  # running or interrupted
        if up in routes:
            continue  # the failure this handler exists for
        on_error = graph.nodes[up].on_error
        if on_error == "fail":
            return "wait"  # the run fails; plan reports it
        if on_error != "continue":  # routed to a handler: skipped for its other dependents
            skipped_by = skipped_by or up
    if routes and not any(
        (s := state.nodes.get(r)) is not None and s.status is StepStatus.FAILED for r in routes
    ):
        return Skip(node_id, "no error to handle")
    if node.when is None:
        if skipped_by is not None:
            return Skip(node_id, f"upstream {skipped_by!r} was skipped")
        return "ready"
    extra = {v: {"output": None, "status": "skipped", "error": None} for v in virtual}
    if not templates.evaluate(node.when, state.context(extra_steps=extra)):
        return Skip(node_id, "when is false")
    return "ready"


def plan(spec: AgentSpec, state: RunState) -> Plan:
    """Decide the next actions of a run. Pure: same inputs, same plan.

    `ready` lists nodes whose upstream is done (including nodes whose last attempt is still
    `running`, which the caller either has in flight or must re-run after a crash), in
    topological order. Raises nothing: template errors fail the run in the returned plan.
    """
    return plan_graph(spec, graph_of(spec), state)


def plan_graph(spec: AgentSpec, graph: Graph, state: RunState) -> Plan:
    """`plan` with the spec's graph already at hand (the loop computes it once per run)."""
    ready: list[str] = []
    skips: list[Skip] = []
    interrupted: list[str] = []
    virtual: dict[str, StepStatus] = {}
    nodes = state.nodes
    for node_id in graph.order:
        ns = nodes.get(node_id)
        if ns is not None:
            status = ns.status
            if status is StepStatus.COMPLETED or status is StepStatus.SKIPPED:
                continue
            if status is StepStatus.FAILED:
                if graph.nodes[node_id].on_error == "fail":
                    return Plan("failed", error={"node": node_id, **(ns.error or {})})
                continue
            if status is StepStatus.INTERRUPTED:
                interrupted.append(node_id)
                continue
        try:
            decision = _decide(graph, node_id, state, virtual)
        except TemplateError as exc:
            error = {"node": node_id, "kind": "template", "message": str(exc)}
            return Plan("failed", error=error)
        if decision == "ready":
            ready.append(node_id)
        elif isinstance(decision, Skip):
            skips.append(decision)
            virtual[node_id] = StepStatus.SKIPPED
    return _conclude(
        spec, graph, state, ready=ready, skips=skips, interrupted=interrupted, virtual=virtual
    )


def _conclude(
    spec: AgentSpec,
    graph: Graph,
    state: RunState,
    *,
    ready: list[str],
    skips: list[Skip],
    interrupted: list[str],
    virtual: dict[str, StepStatus],
) -> Plan:
    if ready:
        return Plan("running", tuple(ready), tuple(skips), tuple(interrupted))
    finished = (StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.FAILED)
    unfinished = [
        nid
        for nid in graph.order
        if nid not in virtual and ((s := state.nodes.get(nid)) is None or s.status not in finished)
    ]
    if interrupted:
        return Plan("interrupted", (), tuple(skips), tuple(interrupted))
    if unfinished:  # only reachable for a state the loop never builds
        error = {"kind": "internal", "message": f"nodes cannot progress: {unfinished}"}
        return Plan("failed", skip=tuple(skips), error=error)
    extra = {v: {"output": None, "status": "skipped", "error": None} for v in virtual}
    ctx = state.context(extra_steps=extra)
    try:
        if spec.output is None:
            output = ctx["steps"][graph.last]["output"]
        else:
            output = templates.render(spec.output, ctx)
    except TemplateError as exc:
        return Plan("failed", skip=tuple(skips), error={"kind": "template", "message": str(exc)})
    return Plan("completed", (), tuple(skips), (), output=output)

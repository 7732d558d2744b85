"""The graph checks of a definition: ids, edges, cycles and "is this step upstream?".

Each is linear in the nodes and edges: one pass for the ids, one for the edges, a
topological order (the node list itself when it is one already, as it usually is), and
reachability for templates answered from the edges or in one shared pass.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from agentdeck.engine.errors import Problem
from agentdeck.engine.spec import Node

RESERVED_IDS = frozenset({"fail", "continue"})
_SHORT = 8
"""Upstream lists up to this long are searched as lists; longer ones become sets."""


def check_ids(nodes: Sequence[Node], problems: list[Problem]) -> dict[str, int]:
    """The index of each id (its first node); reserved and duplicate ids are problems."""
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        node_id = node.id
        if node_id in RESERVED_IDS:
            problems.append(Problem(f"nodes[{i}].id", f"{node_id!r} is reserved", node_id))
        first = index.get(node_id)
        if first is not None:
            msg = f"duplicate id {node_id!r} (first used by nodes[{first}])"
            problems.append(Problem(f"nodes[{i}].id", msg, node_id))
        else:
            index[node_id] = i
    return index


def edges(
    nodes: Sequence[Node], index: dict[str, int], problems: list[Problem]
) -> dict[str, list[str]]:
    """Upstream ids of each id (explicit needs, then nodes routing errors to it), in one
    pass that also reports needs and `on_error` targets that name no node."""
    up: dict[str, list[str]] = {node.id: [] for node in nodes}
    for i, node in enumerate(nodes):
        node_id = node.id
        if node.needs:
            parents = up[node_id]
            for need in node.needs:
                if need == node_id:
                    msg = "a node cannot need itself"
                    problems.append(Problem(f"nodes[{i}].needs", msg, node_id))
                elif need not in index:
                    msg = f"unknown node {need!r}"
                    problems.append(Problem(f"nodes[{i}].needs", msg, node_id))
                else:
                    parents.append(need)
        target = node.on_error
        if target not in RESERVED_IDS:
            if target == node_id:
                msg = "on_error cannot route to the node itself"
                problems.append(Problem(f"nodes[{i}].on_error", msg, node_id))
            elif target not in index:
                msg = f"unknown node {target!r} (use fail, continue or a node id)"
                problems.append(Problem(f"nodes[{i}].on_error", msg, node_id))
        if target != node_id and target in index:  # a reserved id used as an id too
            up[target].append(node_id)
    return up


def topological(up: dict[str, list[str]]) -> list[str]:
    """Ids ordered so that each follows its upstream nodes; the nodes of a cycle, and those
    downstream of one, are left out."""
    seen: set[str] = set()
    for node_id, parents in up.items():
        for parent in parents:
            if parent not in seen:
                return _kahn(up)
        seen.add(node_id)
    return list(up)  # listed in run order already


def _kahn(up: dict[str, list[str]]) -> list[str]:
    waiting = {node_id: len(parents) for node_id, parents in up.items()}
    down: dict[str, list[str]] = {}
    for node_id, parents in up.items():
        for parent in parents:
            down.setdefault(parent, []).append(node_id)
    order = [node_id for node_id, n in waiting.items() if n == 0]
    for node_id in order:  # the list grows while it is walked
        for child in down.get(node_id, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                order.append(child)
    return order


def find_cycle(nodes: Sequence[Node], up: dict[str, list[str]], order: list[str]) -> list[str]:
    """One cycle as ids in run order (each needs the one before), or [].

    Every node the topological order left out has an upstream node also left out, so
    walking upstream among them must come back to a node already seen.
    """
    if len(order) == len(up):
        return []
    left = set(up).difference(order)
    seen: dict[str, int] = {}
    walk: list[str] = []
    current = next(node.id for node in nodes if node.id in left)
    while current not in seen:
        seen[current] = len(walk)
        walk.append(current)
        current = next(parent for parent in up[current] if parent in left)
    return walk[seen[current] :][::-1]


def path_text(ids: list[str], keep: int = 8) -> str:
    """`a -> b -> c`, the middle of a long path elided."""
    if len(ids) <= 2 * keep:
        return " -> ".join(ids)
    hidden = len(ids) - 2 * keep
    return " -> ".join([*ids[:keep], f"... {hidden} more", *ids[-keep:]])


class Upstream:
    """Answers "is `step` upstream of `node`?" for the template checks, in linear time.

    Most references name a direct upstream node (a `needs` entry); those are answered from
    the edges. The others share one pass in topological order that carries, per node, a
    bit set (a Python int) of just the steps such references name.
    """

    def __init__(self, up: dict[str, list[str]], order: list[str]) -> None:
        self.up = up
        self.order = order
        self.direct: dict[str, set[str]] = {}  # long upstream lists, as sets
        self.far: list[tuple[str, str]] = []  # (node, step) pairs to answer in one pass

    def check(self, node_id: str, step: str) -> bool | None:
        """True when `step` is a direct upstream node; None: ask again after :meth:`resolve`."""
        parents = self.up[node_id]
        if len(parents) > _SHORT:
            direct = self.direct.get(node_id)
            if direct is None:
                direct = self.direct[node_id] = set(parents)
            if step in direct:
                return True
        elif step in parents:
            return True
        self.far.append((node_id, step))
        return None

    def all_direct(self, node_id: str, steps: set[str]) -> bool:
        """True when every step is a direct upstream node of `node_id` (nothing to ask)."""
        parents: Collection[str] = self.up[node_id]
        if len(parents) > _SHORT:
            parents = self.direct.get(node_id) or self.direct.setdefault(node_id, set(parents))
        return all(step in parents for step in steps)

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

"""YAML from outside, loaded with bounds on what it expands to (alias bombs) and on nesting.

PyYAML builds an alias as a shared reference, so a few hundred bytes of nested anchors
load quickly but expand to millions of values the moment anything walks them (validation,
JSON encoding, storage). This loader counts, while it composes, every node the document
stands for, each alias counted as the whole subtree it repeats, and refuses the document
as soon as the count passes ``max_nodes``. It also refuses nesting deeper than
``max_depth`` (the composer is recursive, so unbounded depth would be a RecursionError) and
an alias inside the node it names (a cycle). Every YAML the API reads goes through
:func:`load`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

DEFAULT_MAX_NODES = 100_000
DEFAULT_MAX_DEPTH = 100

PathPart = str | int


class YamlLimitError(yaml.YAMLError):
    """The document expands past ``max_nodes``, nests past ``max_depth`` or is cyclic.

    ``path`` is where the composer was when it stopped, from the root (keys and indexes).
    """

    def __init__(self, message: str, path: list[PathPart]) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def _part(parent: Node | None, index: Any) -> PathPart:
    if isinstance(parent, SequenceNode) and isinstance(index, int):
        return index
    if isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
        return str(index.value)
    return "?"  # a mapping key itself, or a key that is not a scalar


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, text: str, *, max_nodes: int, max_depth: int) -> None:
        super().__init__(text)
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.expanded = 0
        self.path: list[PathPart] = []
        self.anchored_sizes: dict[str, int] = {}
        self.pending: PathPart | None = None  # the part being composed, before it is pushed

    def _where(self, *more: PathPart) -> list[PathPart]:
        return [*self.path, *more][1:]  # the root has no name

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # The scanner reads up to 1,024 characters ahead of the composer, and each token
        # costs it a pass over the open levels: refuse deep `[[[...` here, before it costs.
        if self.flow_level >= self.max_depth:
            where = self._where() if self.pending is None else self._where(self.pending)
            raise YamlLimitError(f"nested deeper than {self.max_depth} levels", where)
        super().fetch_flow_collection_start(TokenClass)

    def _count(self, n: int) -> None:
        self.expanded += n
        if self.expanded > self.max_nodes:
            raise YamlLimitError(
                f"the document expands to more than {self.max_nodes} values "
                "(aliases count as what they repeat)",
                self._where(),
            )

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.pending = _part(parent, index)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        self.pending = None
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self.anchored_sizes.get(str(event.anchor))
            if size is None:
                where = self._where(_part(parent, index))
                raise YamlLimitError(f"alias *{event.anchor} is inside its own anchor", where)
            self._count(size)
            return node
        self.path.append(_part(parent, index))
        if len(self.path) > self.max_depth:
            raise YamlLimitError(f"nested deeper than {self.max_depth} levels", self._where())
        before = self.expanded
        node = super().compose_node(parent, index)
        self._count(1)
        if event.anchor is not None:
            self.anchored_sizes[str(event.anchor)] = self.expanded - before
        self.path.pop()
        return node


def load(
    text: str, *, max_nodes: int = DEFAULT_MAX_NODES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """Parse one YAML document with the safe tags only, within the bounds.

    Raises :class:`YamlLimitError` past ``max_nodes`` expanded values or ``max_depth``
    levels, or for a cyclic alias; any other :class:`yaml.YAMLError` for bad syntax.
    """
    loader = _BoundedLoader(text, max_nodes=max_nodes, max_depth=max_depth)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()

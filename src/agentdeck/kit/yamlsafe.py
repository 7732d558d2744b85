"""YAML from outside, loaded with bounds on what it expands to (alias bombs) and on nesting.

PyYAML builds an alias as a shared reference, so a few hundred bytes of nested anchors
load quickly but expand to millions of values the moment anything walks them (validation,
JSON encoding, storage). This loader counts, while it composes, every node the document
stands for, each alias counted as the whole subtree it repeats, and refuses the document
as soon as the count passes ``max_nodes``. It also refuses nesting deeper than
``max_depth`` (the composer is recursive, so unbounded depth would be a RecursionError) and
an alias inside the node it names (a cycle). Every YAML the API reads goes through
:func:`load`.

Where PyYAML has libyaml (``yaml.__with_libyaml__``), its C parser reads the text, and the
data of an ordinary document (mappings, sequences, untagged scalars, aliases) is built
straight from the parser's events, counted as it goes, without nodes: that is many times
faster than PyYAML's Python reader, scanner, composer and constructor. A document using
anything else (an explicit tag, a merge key `<<`, a key that is not a plain scalar, several
documents) or that the constructor would refuse is loaded again by the bounded composer
and PyYAML's safe constructor, so it gives exactly their data or error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

try:
    from yaml._yaml import CParser

    _LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _LIBYAML = False

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


def _too_many(max_nodes: int, where: list[PathPart]) -> YamlLimitError:
    return YamlLimitError(
        f"the document expands to more than {max_nodes} values (aliases count as what they repeat)",
        where,
    )


def _too_deep(max_depth: int, where: list[PathPart]) -> YamlLimitError:
    return YamlLimitError(f"nested deeper than {max_depth} levels", where)


def _cycle(anchor: object, where: list[PathPart]) -> YamlLimitError:
    return YamlLimitError(f"alias *{anchor} is inside its own anchor", where)


_LIBYAML_MAX_DEPTH = 1000
"""libyaml refuses nesting past this many levels itself, in its scanner, which reads ahead."""


def _libyaml_too_deep(exc: yaml.YAMLError, max_depth: int) -> bool:
    problem = getattr(exc, "problem", None)
    return max_depth < _LIBYAML_MAX_DEPTH and problem == "exceeded maximum nesting depth"


def _part(parent: Node | None, index: Any) -> PathPart:
    if isinstance(parent, SequenceNode) and isinstance(index, int):
        return index
    if isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
        return str(index.value)
    return "?"  # a mapping key itself, or a key that is not a scalar


class _Bounds:
    """The counting composer, over either parser (PyYAML's or libyaml's events)."""

    def _bound(self, max_nodes: int, max_depth: int) -> None:
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.expanded = 0
        self.path: list[PathPart] = []
        self.anchored_sizes: dict[str, int] = {}
        self.pending: PathPart | None = None  # the part being composed, before it is pushed

    def _where(self, *more: PathPart) -> list[PathPart]:
        return [*self.path, *more][1:]  # the root has no name

    def _count(self, n: int) -> None:
        self.expanded += n
        if self.expanded > self.max_nodes:
            raise _too_many(self.max_nodes, self._where())

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.pending = _part(parent, index)
        event = self.peek_event()  # type: ignore[attr-defined]
        self.pending = None
        if isinstance(event, yaml.AliasEvent):
            node: Node | None = super().compose_node(parent, index)  # type: ignore[misc]
            size = self.anchored_sizes.get(str(event.anchor))
            if size is None:
                raise _cycle(event.anchor, self._where(_part(parent, index)))
            self._count(size)
            return node
        self.path.append(_part(parent, index))
        if len(self.path) > self.max_depth:
            raise _too_deep(self.max_depth, self._where())
        before = self.expanded
        node = super().compose_node(parent, index)  # type: ignore[misc]
        self._count(1)
        if event.anchor is not None:
            self.anchored_sizes[str(event.anchor)] = self.expanded - before
        self.path.pop()
        return node


class _BoundedLoader(_Bounds, yaml.SafeLoader):
    """PyYAML's Python reader and scanner, with the composer's bounds."""

    def __init__(self, text: str, *, max_nodes: int, max_depth: int) -> None:
        super().__init__(text)
        self._bound(max_nodes, max_depth)

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # The scanner reads up to 1,024 characters ahead of the composer, and each token
        # costs it a pass over the open levels: refuse deep `[[[...` here, before it costs.
        if self.flow_level >= self.max_depth:
            where = self._where() if self.pending is None else self._where(self.pending)
            raise _too_deep(self.max_depth, where)
        super().fetch_flow_collection_start(TokenClass)


if _LIBYAML:

    class _BoundedCLoader(_Bounds, Composer, CParser, SafeConstructor, Resolver):
        """libyaml's parser (it nests without recursion), with the composer's bounds."""

        def __init__(self, text: str, *, max_nodes: int, max_depth: int) -> None:
            CParser.__init__(self, text)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)
            self._bound(max_nodes, max_depth)


class _Unsupported(Exception):
    """The document needs the composer and the safe constructor to load exactly."""


_STR_TAG = "tag:yaml.org,2002:str"
_SEQ_TAGS = (None, "!", "tag:yaml.org,2002:seq")
_MAP_TAGS = (None, "!", "tag:yaml.org,2002:map")
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")
)
_RESOLVER = Resolver()  # read-only once built: the safe loader has no path resolvers
_MISSING = object()


def _plain(text: str, constructor: SafeConstructor) -> Any:
    """An untagged plain scalar, resolved and constructed as the safe loader does."""
    tag = _RESOLVER.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == _STR_TAG:
        return text
    if tag not in _SCALAR_TAGS:  # a merge key `<<`, a value key `=`
        raise _Unsupported
    try:
        return constructor.yaml_constructors[tag](constructor, ScalarNode(tag, text))
    except Exception as exc:  # e.g. a timestamp that is no date: the constructor's error
        raise _Unsupported from exc


def _fast_load(text: str, max_nodes: int, max_depth: int) -> Any:
    """The document's data from libyaml's events, with the composer's bounds and errors.
    Raises _Unsupported for anything the composer and the constructor must handle.

    A nesting past libyaml's own limit (its scanner reads ahead of the events) is refused
    as the composer refuses one past ``max_depth``, naming where the next value was.
    """
    parser = CParser(text)
    stack: list[list[Any]] = []
    path: list[PathPart] = []  # parts from the root (whose part, "?", no error names)
    try:
        get = parser.get_event
        get()  # STREAM-START
        if isinstance(get(), StreamEndEvent):  # else DOCUMENT-START
            return None
        data = _build(get, max_nodes, max_depth, stack, path)
        get()  # DOCUMENT-END
        if not isinstance(get(), StreamEndEvent):
            raise _Unsupported  # a second document: the composer's error
        return data
    except yaml.YAMLError as exc:
        if not _libyaml_too_deep(exc, max_depth):
            raise
        raise _too_deep(max_depth, [*path, _next_part(stack)][1:]) from exc
    finally:
        parser.dispose()


def _next_part(stack: list[list[Any]]) -> PathPart:
    """The path part of the value that comes next (see :func:`_build`'s frames)."""
    if not stack:
        return "?"
    top = stack[-1]
    if top[1]:
        return "?" if top[2] is _MISSING else top[3]
    return len(top[0])


def _build(  # noqa: PLR0915 (one loop: a call per event would cost more than the work)
    get: Callable[[], Any],
    max_nodes: int,
    max_depth: int,
    stack: list[list[Any]],
    path: list[PathPart],
) -> Any:
    """One document's root from its events, counted as the bounded composer counts.

    A frame of ``stack`` is [container, is_mapping, key, key_part, anchor, expanded_before];
    a mapping frame whose key is _MISSING waits for a key. ``path`` holds the part of each
    value being built.
    """
    constructor = SafeConstructor()
    plain: dict[str, Any] = {}  # untagged plain scalar -> its (immutable) value
    anchored: dict[str, Any] = {}  # anchor -> its value (being built, or built)
    sizes: dict[str, int] = {}  # anchor -> what an alias of it counts (built ones only)
    top: list[Any] | None = None
    value: Any
    expanded = 0
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent and event.anchor is None and len(path) < max_depth:
            # The most common event, on a short path: nothing is pushed for it.
            if event.tag is not None and event.tag != "!":
                raise _Unsupported
            raw = value = event.value
            if event.implicit[0]:
                value = plain.get(raw, _MISSING)
                if value is _MISSING:
                    value = plain[raw] = _plain(raw, constructor)
            expanded += 1
            if expanded > max_nodes:
                raise _too_many(max_nodes, [*path, _next_part(stack)][1:])
            if top is not None and top[1] and top[2] is _MISSING:
                top[2], top[3] = value, raw  # a key: its value is next
                continue
        elif kind is SequenceEndEvent or kind is MappingEndEvent:
            frame = stack.pop()
            top = stack[-1] if stack else None
            expanded += 1
            if expanded > max_nodes:
                raise _too_many(max_nodes, path[1:])
            if frame[4] is not None:
                sizes[frame[4]] = expanded - frame[5]
            path.pop()
            value = frame[0]
        else:
            is_key = top is not None and top[1] and top[2] is _MISSING
            if top is None:
                part: PathPart = "?"
            elif top[1]:
                part = "?" if is_key else top[3]
            else:
                part = len(top[0])
            if kind is AliasEvent:
                anchor = event.anchor
                size = sizes.get(anchor)
                if size is None:
                    if anchor in anchored:
                        raise _cycle(anchor, [*path[1:], part])
                    raise _Unsupported  # an undefined alias: the composer's error
                if is_key:
                    raise _Unsupported
                expanded += size
                if expanded > max_nodes:
                    raise _too_many(max_nodes, path[1:])
                value = anchored[anchor]
            else:
                path.append(part)
                if len(path) > max_depth:
                    raise _too_deep(max_depth, path[1:])
                anchor = event.anchor
                if anchor is not None and anchor in anchored:
                    raise _Unsupported  # a duplicate anchor: the composer's error
                if kind is ScalarEvent:
                    if event.tag is not None and event.tag != "!":
                        raise _Unsupported
                    raw = value = event.value
                    if event.implicit[0]:
                        value = plain.get(raw, _MISSING)
                        if value is _MISSING:
                            value = plain[raw] = _plain(raw, constructor)
                    expanded += 1
                    if expanded > max_nodes:
                        raise _too_many(max_nodes, path[1:])
                    if anchor is not None:
                        anchored[anchor] = value
                        sizes[anchor] = 1
                    path.pop()
                    if is_key:
                        top[2], top[3] = value, raw  # type: ignore[index]
                        continue
                else:
                    is_map = kind is MappingStartEvent
                    if event.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS) or is_key:
                        raise _Unsupported  # a tag, or a collection as a key (unhashable)
                    container: Any = {} if is_map else []
                    if anchor is not None:
                        anchored[anchor] = container
                    top = [container, is_map, _MISSING, None, anchor, expanded]
                    stack.append(top)
                    continue
        if top is None:
            return value
        if top[1]:
            top[0][top[2]] = value
            top[2] = _MISSING
        else:
            top[0].append(value)


def load(
    text: str, *, max_nodes: int = DEFAULT_MAX_NODES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """Parse one YAML document with the safe tags only, within the bounds.

    Raises :class:`YamlLimitError` past ``max_nodes`` expanded values or ``max_depth``
    levels, or for a cyclic alias; any other :class:`yaml.YAMLError` for bad syntax.
    """
    if not _LIBYAML:  # pragma: no cover - PyYAML built without libyaml
        py_loader = _BoundedLoader(text, max_nodes=max_nodes, max_depth=max_depth)
        try:
            return py_loader.get_single_data()
        finally:
            py_loader.dispose()
    try:
        return _fast_load(text, max_nodes, max_depth)
    except _Unsupported:
        pass
    loader = _BoundedCLoader(text, max_nodes=max_nodes, max_depth=max_depth)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        if not _libyaml_too_deep(exc, max_depth):
            raise
        where = loader._where() if loader.pending is None else loader._where(loader.pending)
        raise _too_deep(max_depth, where) from exc
    finally:
        loader.dispose()

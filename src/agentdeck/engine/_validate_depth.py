"""Is anything in a validated definition nested too deep? Found without walking all of it.

Only some fields can nest without bound: the JSON values (`value`, `default`, `args`,
schemas, filters, stored prompts, ...). Every other field has a shape its type fixes (ids,
`needs`, `retry`, messages), a few levels deep at most. So after the schema has validated a
definition (which keeps the nesting of what it read: a mapping became a model or a dict, a
list a list or a tuple) the nesting check walks just those fields, found once per model
from their annotations. It may count more levels than the document has, never fewer; the
caller confirms a finding on the document itself (`kit.nesting.too_deep`).
"""

from __future__ import annotations

import functools
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from agentdeck.engine.spec import AgentSpec

_SCALARS = (str, int, float, bool, type(None))
_CONTAINERS = (BaseModel, dict, list, tuple)


def _fixed(annotation: Any) -> bool:
    """True when values of this type nest only as deep as the type itself says."""
    if annotation in _SCALARS:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return True
    if origin is Annotated:
        return _fixed(get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, tuple, dict):
        return all(_fixed(arg) for arg in get_args(annotation) if arg is not Ellipsis)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return all(_fixed(field.annotation) for field in annotation.model_fields.values())
    return False  # JSON values, typed dicts, anything open


@functools.cache
def free_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` whose values may nest without bound."""
    return tuple(name for name, f in model.model_fields.items() if not _fixed(f.annotation))


def _nests_deeper(value: Any, levels: int) -> bool:
    """True when ``value`` (itself the first level) holds more than ``levels`` levels of
    non-empty mappings, lists or models."""
    stack = [(value, levels)]
    while stack:
        item, left = stack.pop()
        if isinstance(item, BaseModel):
            inner: Any = [getattr(item, name) for name in item.model_fields_set]
        elif isinstance(item, dict):
            inner = item.values()
        elif isinstance(item, list | tuple):
            inner = item
        else:
            continue
        if left <= 0:
            return True
        stack.extend(
            (child, left - 1) for child in inner if child and isinstance(child, _CONTAINERS)
        )
    return False


def may_be_too_deep(spec: AgentSpec, max_depth: int) -> bool:
    """True when the document ``spec`` was read from may nest deeper than ``max_depth``
    levels (the document is level 1, a node level 3, a node's field level 4)."""
    for name in free_fields(AgentSpec):
        if name == "nodes":
            continue
        value = getattr(spec, name)
        if value and isinstance(value, _CONTAINERS) and _nests_deeper(value, max_depth - 1):
            return True
    fields_of: dict[type[BaseModel], tuple[str, ...]] = {}
    for node in spec.nodes:
        fields = fields_of.get(node_type := type(node))
        if fields is None:
            fields = fields_of[node_type] = free_fields(node_type)
        for name in fields:
            value = getattr(node, name)
            if value and isinstance(value, _CONTAINERS) and _nests_deeper(value, max_depth - 3):
                return True
    return False

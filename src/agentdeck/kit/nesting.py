"""How deep JSON-like data nests, found without recursion.

Deeply nested input is cheap to send and expensive to refuse late: recursive code (the JSON
encoder, validators, serialisers) raises RecursionError somewhere far from the input. These
walks use an explicit stack, so checking a value is linear and cannot itself overflow.
"""

from __future__ import annotations

import json
import re
from typing import Any

PathPart = str | int

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]')


def too_deep(data: Any, max_depth: int) -> list[PathPart] | None:
    """The path to the first dict or list nested deeper than ``max_depth`` levels (``data``
    itself is level 1), or None."""
    # A path is a linked pair (parent path, key): nothing is copied on the way down.
    stack: list[tuple[Any, int, Any]] = [(data, 1, None)]
    while stack:
        value, depth, path = stack.pop()
        if depth > max_depth:
            parts: list[PathPart] = []
            while path is not None:
                path, key = path
                parts.append(key)
            return parts[::-1]
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            continue
        for key, item in items:
            if item and isinstance(item, dict | list):
                stack.append((item, depth + 1, (path, key)))
    return None


def too_deep_in_text(text: str, max_depth: int) -> list[PathPart] | None:
    """Like :func:`too_deep` for JSON text that may be too deep to parse at all; reads only
    the structure (brackets, commas, keys) and stops at the first level too many."""
    stack: list[list[Any]] = []  # [is_object, key or index, expecting a key]
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            if len(stack) >= max_depth:
                return [entry[1] for entry in stack]
            stack.append([token == "{", None if token == "{" else 0, token == "{"])
        elif token in "]}":
            if stack:
                stack.pop()
        elif not stack:
            continue
        elif token == ",":
            top = stack[-1]
            if top[0]:
                top[2] = True
            else:
                top[1] += 1
        elif token == ":":
            stack[-1][2] = False
        elif stack[-1][0] and stack[-1][2]:  # a string where a key is expected
            try:
                stack[-1][1] = str(json.loads(token))
            except ValueError:
                stack[-1][1] = token[1:-1]
    return None


def field_name(path: list[PathPart], *, max_parts: int = 8) -> str:
    """A path as a field name (`definition.nodes[0].value`), cut after the last key in its
    first ``max_parts`` parts: the run of bare list levels past it says nothing."""
    head = path[:max_parts]
    keys = [i for i, part in enumerate(head) if isinstance(part, str)]
    if keys:
        head = head[: keys[-1] + 1]
    out = ""
    for part in head:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "body"

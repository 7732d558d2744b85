"""Pure helpers of store search: LangGraph's value filter, the text an index embeds, and
the similarity of normalised vectors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_MISSING = object()


def _at(value: Any, path: str) -> Any:
    if path == "$":
        return value
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _compare(have: Any, op: str, want: Any) -> bool:
    try:
        if op == "$eq":
            return bool(have == want)
        if op == "$ne":
            return bool(have != want)
        if op == "$gt":
            return bool(have > want)
        if op == "$gte":
            return bool(have >= want)
        if op == "$lt":
            return bool(have < want)
        if op == "$lte":
            return bool(have <= want)
    except TypeError:
        return False
    raise ValueError(f"unknown filter operator {op!r}")


def matches(value: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    """Every filter key (a dotted path) equals the wanted value, or passes its operators
    (`$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`). Raises ValueError for another operator."""
    for path, want in (wanted or {}).items():
        have = _at(value, path)
        if isinstance(want, dict) and want and all(str(k).startswith("$") for k in want):
            if have is _MISSING or not all(_compare(have, op, w) for op, w in want.items()):
                return False
        elif have is _MISSING or have != want:
            return False
    return True


def index_text(value: dict[str, Any], fields: Sequence[str]) -> str:
    """The text embedded for an item: its indexed fields, in order."""
    parts = []
    for path in fields:
        found = _at(value, path)
        if found is _MISSING or found is None:
            continue
        parts.append(found if isinstance(found, str) else json.dumps(found, sort_keys=True))
    return "\n".join(parts)


def similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two normalised vectors (0 for vectors of different size)."""
    if len(a) != len(b):
        return 0.0
    return float(sum(x * y for x, y in zip(a, b, strict=True)))

"""JSON text of the journal's JSON columns, as the ORM writes and reads them (both stores)."""

from __future__ import annotations

import json
from typing import Any

# One encoder: json.dumps with `separators` builds a new one per call, which cost more
# than the rest of a journal write.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def dumps(value: Any) -> str:
    """Compact JSON text; None is JSON null, as the ORM writes it."""
    return "null" if value is None else _ENCODE(value)


def loads(value: str | float | None) -> Any:
    """Decode a JSON column; numeric JSON text comes back as a number (SQLite's column
    affinity), SQL NULL as None."""
    if value is None or isinstance(value, int | float):
        return value
    return json.loads(value)

"""What both journal stores share about a row: the JSON text of its JSON columns, as the ORM
writes and reads them, and the columns a step is read back from."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from agentdeck.engine.journal import StepRecord, StepStatus, Usage

# One encoder: json.dumps with `separators` builds a new one per call, which cost more
# than the rest of a journal write.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode

STEP_COLUMNS = (
    "node_id, item_index, attempt, status, idempotency_key, input, output, error, "
    "started_at, ended_at, tokens_in, tokens_out, cost_usd"
)
"""The columns of `run_steps` that `step_from_row` reads, in its order."""


def dumps(value: Any) -> str:
    """Compact JSON text; None is JSON null, as the ORM writes it."""
    return "null" if value is None else _ENCODE(value)


def loads(value: str | float | None) -> Any:
    """Decode a JSON column; numeric JSON text comes back as a number (SQLite's column
    affinity), SQL NULL as None."""
    if value is None or isinstance(value, int | float):
        return value
    return json.loads(value)


def _as_is(value: Any) -> dt.datetime | None:
    return value  # type: ignore[no-any-return]


def step_from_row(
    run_id: str,
    row: Sequence[Any],
    time: Callable[[Any], dt.datetime | None] = _as_is,
) -> StepRecord:
    """A StepRecord from a SELECT of `STEP_COLUMNS`; ``time`` turns the store's timestamp
    values into aware datetimes (SQLite keeps them as text; asyncpg's are datetimes already).
    ``item_index`` -1 is the node itself (``index`` None)."""
    return StepRecord(
        run_id=run_id,
        node_id=row[0],
        index=None if row[1] < 0 else row[1],
        attempt=row[2],
        status=StepStatus(row[3]),
        idempotency_key=row[4],
        input=loads(row[5]),
        output=loads(row[6]),
        error=loads(row[7]),
        started_at=time(row[8]),
        ended_at=time(row[9]),
        usage=Usage(row[10], row[11], row[12]),
    )

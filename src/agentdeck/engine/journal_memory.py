"""In-memory journal: for tests, benchmarks and `agentdeck run FILE` without a database."""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from agentdeck.engine.journal import (
    NO_USAGE,
    EventRecord,
    JournalConflict,
    StepRecord,
    StepStatus,
    Usage,
)

_Key = tuple[str, int | None, int]
_Event = tuple[str, dict[str, Any], float]  # type, data, unix time; EventRecord on read


class MemoryJournal:
    """A `Journal` kept in dicts. Values are deep-copied in and out, like a database would.

    `copy_values=False` skips the copies for benchmarks of the engine's own overhead.
    """

    def __init__(self, *, copy_values: bool = True) -> None:
        self._steps: dict[str, dict[_Key, StepRecord]] = defaultdict(dict)
        self._events: dict[str, list[_Event]] = defaultdict(list)
        self._copy = copy_values

    def _clone(self, value: Any) -> Any:
        return copy.deepcopy(value) if self._copy and value is not None else value

    def _out(self, record: StepRecord) -> StepRecord:
        if not self._copy:
            return record
        return StepRecord(
            run_id=record.run_id,
            node_id=record.node_id,
            attempt=record.attempt,
            status=record.status,
            idempotency_key=record.idempotency_key,
            index=record.index,
            input=copy.deepcopy(record.input),
            output=copy.deepcopy(record.output),
            error=copy.deepcopy(record.error),
            started_at=record.started_at,
            ended_at=record.ended_at,
            usage=record.usage,
        )

    async def load(self, run_id: str) -> list[StepRecord]:
        return [self._out(r) for r in self._steps.get(run_id, {}).values()]

    async def start_step(
        self,
        run_id: str,
        node_id: str,
        *,
        attempt: int,
        index: int | None = None,
        input: Any = None,
        idempotency_key: str,
        durable: bool = False,
    ) -> StepRecord:
        key = (node_id, index, attempt)
        steps = self._steps[run_id]
        if key in steps:
            raise JournalConflict(f"{run_id}:{node_id}[{index}] attempt {attempt} exists")
        record = StepRecord(
            run_id=run_id,
            node_id=node_id,
            attempt=attempt,
            status=StepStatus.RUNNING,
            idempotency_key=idempotency_key,
            index=index,
            input=self._clone(input),
            started_at=datetime.now(UTC),
        )
        steps[key] = record
        return self._out(record)

    async def finish_step(
        self,
        run_id: str,
        node_id: str,
        *,
        attempt: int,
        index: int | None = None,
        status: StepStatus,
        output: Any = None,
        error: dict[str, Any] | None = None,
        usage: Usage = NO_USAGE,
    ) -> StepRecord:
        record = self._steps.get(run_id, {}).get((node_id, index, attempt))
        if record is None:
            raise KeyError(f"{run_id}:{node_id}[{index}] attempt {attempt} was never started")
        record.status = status
        record.output = self._clone(output)
        record.error = self._clone(error)
        record.usage = usage
        record.ended_at = datetime.now(UTC)
        return self._out(record)

    async def record_step(self, record: StepRecord) -> None:
        key = (record.node_id, record.index, record.attempt)
        steps = self._steps[record.run_id]
        if key in steps:
            raise JournalConflict(f"{record.run_id}:{record.node_id} attempt exists")
        stored = self._out(record)
        now = datetime.now(UTC)
        stored.started_at = stored.started_at or now
        stored.ended_at = stored.ended_at or now
        steps[key] = stored

    async def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        events = self._events[run_id]
        events.append((type, copy.deepcopy(data) if self._copy else data, time.time()))
        return len(events)  # seq n is events[n - 1]

    async def events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        stored = self._events.get(run_id, [])
        return [
            EventRecord(run_id, seq, type, data, datetime.fromtimestamp(at, UTC))
            for seq, (type, data, at) in enumerate(stored[max(after, 0) :], start=max(after, 0) + 1)
        ]

"""The run journal port: one record per step attempt, plus the run's durable events.

The journal is the source of truth of a run. The engine rebuilds everything it needs from
`load(run_id)`, which is how a run resumes on another worker after a crash.
Implementations: `journal_memory.MemoryJournal` (tests, benchmarks); SQL ones live with the
run feature. All must pass `tests/engine/journal_conformance.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and cost of one model call or step."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.cost_usd + other.cost_usd,
        )


NO_USAGE = Usage()


def idempotency_key(run_id: str, node_id: str, index: int | None = None) -> str:
    """`run_id:node_id`, plus `:index` for a for_each item. Stable across attempts."""
    key = f"{run_id}:{node_id}"
    return key if index is None else f"{key}:{index}"


@dataclass(slots=True)
class StepRecord:
    """One attempt of one step. `index` is the for_each item, None for the node itself."""

    run_id: str
    node_id: str
    attempt: int
    status: StepStatus
    idempotency_key: str
    index: int | None = None
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    usage: Usage = NO_USAGE  # frozen, so sharing the default is safe


@dataclass(frozen=True, slots=True)
class EventRecord:
    run_id: str
    seq: int
    type: str
    data: dict[str, Any]
    created_at: datetime


class JournalConflict(Exception):
    """The step attempt already exists (another worker got there first)."""


class Journal(Protocol):
    """Persistence port of the engine. Every method is atomic on its own.

    A journal may batch writes (group commit): then a conflict of `start_step`,
    `record_step` or a non-outcome `append_event` is raised by the run's next write, wait
    or read instead of by the call itself; a step's or run's outcome event (`step.completed`,
    `step.failed`, `run.*` ends) is stored when `append_event` returns.
    """

    async def load(self, run_id: str) -> list[StepRecord]:
        """All step records of the run, in the order they were started."""
        ...

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
        """Insert a `running` record; raises JournalConflict if this attempt exists.

        With ``durable`` the record is stored when this returns (a journal that batches
        writes waits for its batch): the engine asks so before a node acts outside the run
        (a model, a tool, an HTTP call), so that a crash mid-call leaves the attempt in the
        journal and the attempt after it is known to be a re-run of an unfinished step."""
        ...

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
        """Close a started attempt; raises KeyError if it was never started."""
        ...

    async def record_step(self, record: StepRecord) -> None:
        """Insert an already finished record (skips, for_each totals, resume answers).

        Raises JournalConflict if this attempt exists.
        """
        ...

    async def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        """Store a durable event and return its per-run sequence number (1, 2, ...)."""
        ...

    async def events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        """Durable events with `seq > after`, in order (SSE `Last-Event-ID` replay)."""
        ...

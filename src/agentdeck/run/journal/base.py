"""`SqlJournal`: what the two stores of the engine's Journal port share.

The port (`agentdeck.engine.journal.Journal`) is kept on the `run_steps` and `run_events`
tables by one of two classes, picked by the database's dialect (`open_journal`):
`SqliteJournal` (`sqlite`) and `PgJournal` (`postgres`). Both defer what nobody waits for and
commit a step's or a run's outcome before `append_event` returns (`COMMIT_AT`), so a quick
step costs one commit on SQLite and one round trip on PostgreSQL; `when_durable` holds a live
event's delivery until it is committed.

Per-run event sequence numbers: the journal remembers the last one it wrote for each run
(`known_new` tells it a run's numbers so far without a query) and writes the next. The unique
``(run_id, seq)`` constraint is the safety net; what each store does when it meets it is in
its ``append_event``.

Step rows store ``item_index = -1`` for the node itself (`StepRecord.index is None`). The
record returned by `finish_step` carries no `input` (the engine does not need it; `load` has it).
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Callable
from typing import Any

from agentdeck.engine.journal import NO_USAGE, EventRecord, StepRecord, StepStatus, Usage

COMMIT_AT = frozenset(
    {"step.completed", "step.failed", "run.completed", "run.failed", "run.cancelled",
     "run.interrupted"}
)  # fmt: skip
"""Events committed before `append_event` returns: a step's outcome is durable before any
step that depends on it starts, and a run's end before its row says so."""
RUN_END = frozenset({"run.completed", "run.failed", "run.cancelled", "run.interrupted"})


def run_uuid(run_id: str) -> uuid.UUID:
    """The run's UUID; raises ValueError for anything else (run ids are UUIDs here)."""
    return uuid.UUID(run_id)


class SqlJournal(abc.ABC):
    """The Journal port for one organisation's runs (its rows carry ``org_id``).

    Run ids are the string form of `Run.id`. The journal acts on ids the worker was handed,
    not for a caller, so it reads and writes without a tenant scope.
    """

    def __init__(self, org_id: uuid.UUID) -> None:
        self.org_id = org_id
        self._seqs: dict[str, int] = {}  # run id -> the last sequence number it wrote
        self._new: set[str] = set()

    def known_new(self, run_id: str, last_seq: int = 0) -> None:
        """The caller knows the run has never started (no step can exist) and that its
        events so far end at ``last_seq``: the next `load` of it answers without a query,
        and so does its first event's number. Saves round trips at the start of each run."""
        self._new.add(run_id)
        self._seqs[run_id] = last_seq

    async def load(self, run_id: str) -> list[StepRecord]:
        """All step records of the run, in the order they were started."""
        if run_id in self._new:
            self._new.discard(run_id)
            return []
        return await self._load(run_id, run_uuid(run_id))

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
        With ``durable``, it is committed on return (see the `Journal` port)."""
        record = StepRecord(
            run_id=run_id,
            node_id=node_id,
            attempt=attempt,
            status=StepStatus.RUNNING,
            idempotency_key=idempotency_key,
            index=index,
            input=input,
        )
        await self._insert(record, finished=False, durable=durable)
        return record

    async def record_step(self, record: StepRecord) -> None:
        """Insert an already finished record; raises JournalConflict if this attempt exists."""
        await self._insert(record, finished=True)

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
        record = StepRecord(
            run_id=run_id,
            node_id=node_id,
            attempt=attempt,
            status=status,
            idempotency_key="",
            index=index,
            output=output,
            error=error,
            usage=usage,
        )
        await self._finish(record)
        return record

    @abc.abstractmethod
    async def append_event(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        """Store a durable event; its per-run sequence number. A step's or run's outcome
        is committed on return; others may commit a moment later (see `when_durable`)."""

    @abc.abstractmethod
    def when_durable(self, callback: Callable[[], None], run_id: str | None = None) -> None:
        """Call ``callback`` once every write made so far (of ``run_id``, when given) is
        committed; never for writes that were lost."""

    async def events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        """Durable events with ``seq > after``, in order."""
        return await self._events(run_id, run_uuid(run_id), after)

    # ---- what each store does ---------------------------------------------------------

    @abc.abstractmethod
    async def _load(self, run_id: str, rid: uuid.UUID) -> list[StepRecord]:
        """The run's stored steps, in the order they were started."""

    @abc.abstractmethod
    async def _insert(self, record: StepRecord, *, finished: bool, durable: bool = False) -> None:
        """Write the record (its times filled in: now, when unset; ``ended_at`` only when
        ``finished``); raises JournalConflict if this attempt exists."""

    @abc.abstractmethod
    async def _finish(self, record: StepRecord) -> None:
        """Close the started attempt of ``record`` with its outcome and fill in its
        ``idempotency_key``, ``started_at`` and ``ended_at``; raises KeyError if it was
        never started."""

    @abc.abstractmethod
    async def _events(self, run_id: str, rid: uuid.UUID, after: int) -> list[EventRecord]:
        """The run's stored events with ``seq > after``, in order."""

    @staticmethod
    def _where(record: StepRecord) -> str:
        return f"{record.run_id}:{record.node_id}[{record.index}] attempt {record.attempt} exists"

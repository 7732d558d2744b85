"""What travels through Temporal: workflow input and result, activity arguments and results.

Pydantic models, converted by `temporalio.contrib.pydantic`. They carry only what the
workflow needs to plan (step statuses, attempts, outputs) and what an activity needs to run
one node attempt; token deltas never travel here (they go through the run broker).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agentdeck.engine.journal import StepRecord, StepStatus, Usage


class Options(BaseModel):
    """Engine settings fixed for a workflow when it starts (workflows read no environment)."""

    heartbeat_timeout_s: float = 10.0
    activity_timeout_s: float = 3600.0
    lost_attempts: int = 5
    max_history_events: int = 10_000
    interrupt_wait_s: float = 30 * 24 * 3600.0
    max_concurrency: int = 16
    requeue_delay_s: float = 0.5


class RunMeta(BaseModel):
    """Who a run is for: what its node activities need to build their ports."""

    org_id: str
    space_id: str
    agent_id: str
    user_id: str | None = None
    api_key_id: str | None = None


class RunInput(BaseModel):
    """A run's workflow input: the pinned agent version and the run's inputs."""

    run_id: str
    org_id: str
    agent_id: str
    agent_version: int
    spec: dict[str, Any]
    inputs: Any = None
    options: Options = Field(default_factory=Options)
    continued: int = 0
    """How many times this run's workflow continued as new."""


class Step(BaseModel):
    """One step record as the planner needs it."""

    node_id: str
    attempt: int
    status: StepStatus
    index: int | None = None
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    @classmethod
    def of(cls, record: StepRecord) -> Step:
        return cls(
            node_id=record.node_id,
            attempt=record.attempt,
            status=record.status,
            index=record.index,
            output=record.output,
            error=record.error,
            tokens_in=record.usage.tokens_in,
            tokens_out=record.usage.tokens_out,
            cost_usd=record.usage.cost_usd,
        )

    def record(self, run_id: str, key: str) -> StepRecord:
        return StepRecord(
            run_id=run_id,
            node_id=self.node_id,
            attempt=self.attempt,
            status=self.status,
            idempotency_key=key,
            index=self.index,
            input=self.input,
            output=self.output,
            error=self.error,
            usage=Usage(self.tokens_in, self.tokens_out, self.cost_usd),
        )


class Event(BaseModel):
    type: str
    data: dict[str, Any]


class Prepared(BaseModel):
    """The `prepare` activity's answer: whether to run now, and the journal so far."""

    action: Literal["run", "held", "done"]
    meta: RunMeta | None = None
    steps: list[Step] = Field(default_factory=list)
    thread: dict[str, Any] | None = None
    resume: list[Any] = Field(default_factory=list)
    """The resume answer to record first, as a one-element list (an answer may be null)."""
    cancelled: bool = False


class Batch(BaseModel):
    """Finished step records and durable events written together (`record`), once: a
    batch whose first step already exists was written before and is not written again."""

    run_id: str
    org_id: str
    steps: list[Step] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)


class NodeTask(BaseModel):
    """One node attempt for the node activity of the node's kind."""

    run_id: str
    meta: RunMeta
    node: dict[str, Any]
    config: dict[str, Any]
    base_attempt: int
    index: int | None = None
    sources: list[dict[str, Any]] = Field(default_factory=list)
    cite: bool = False
    resume: Any = None


class NodeOutcome(BaseModel):
    """How a node attempt ended: completed, interrupted, or failed for good."""

    step: Step
    attempts: int = 1
    """Activity attempts it took (each one a journal attempt)."""


class LostStep(BaseModel):
    """A node whose activity gave up without recording an outcome (`fail_step`)."""

    run_id: str
    org_id: str
    node_id: str
    index: int | None = None
    error: dict[str, Any]
    output: Any = None


class Finish(BaseModel):
    """The run's end as the workflow decided it (`finish`)."""

    run_id: str
    org_id: str
    status: Literal["completed", "failed", "interrupted", "cancelled"]
    output: Any = None
    error: dict[str, Any] | None = None
    interrupt: Any = None


class ResumeRequest(BaseModel):
    """The `resume` update: the run created to continue this one, and the answer."""

    run_id: str
    value: Any = None
    node: str | None = None


class RunOutcome(BaseModel):
    """The workflow's result."""

    status: Literal["completed", "failed", "interrupted", "cancelled", "skipped"]
    output: Any = None
    error: dict[str, Any] | None = None
    interrupt: Any = None
    resumed_by: str | None = None

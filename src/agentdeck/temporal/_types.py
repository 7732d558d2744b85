"""What travels through Temporal: workflow input and result, activity arguments and results.

Pydantic models, converted by `temporalio.contrib.pydantic`. They carry only what the
workflow needs to plan (step statuses, attempts, outputs) and what an activity needs to run
one node attempt; token deltas never travel here (they go through the run broker).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agentdeck.engine.journal import StepRecord, StepStatus, Usage
from agentdeck.engine.ports import ChatMessage, ChatRequest, ChatResult, ToolCall, ToolSpec


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
    thread_id: str | None = None
    end_user: str | None = None


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
    parent_run_id: str | None = None
    """Set for a sub-agent's child run, whose workflow is a child of its parent's."""


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


class CloseStep(BaseModel):
    """Close a node attempt the workflow decided (`close_step`): its running record is
    finished (or a finished one added when none was started), with ``events``, once."""

    run_id: str
    org_id: str
    step: Step
    events: list[Event] = Field(default_factory=list)


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


# -- an agent node's loop, driven by the workflow (`agent_loop`, `agent_activities`) ---------


class AgentTask(BaseModel):
    """One attempt of an agent node, as each of its calls' activities needs it."""

    run_id: str
    meta: RunMeta
    node: dict[str, Any]
    config: dict[str, Any]
    attempt: int
    index: int | None = None
    sources: list[dict[str, Any]] = Field(default_factory=list)
    cite: bool = False
    resume: Any = None


class AgentStart(BaseModel):
    """`agentdeck.agent.setup`'s answer: the tools offered and where the loop begins."""

    specs: list[ToolSpec]
    tools: list[str]
    approve: dict[str, str]
    memory: bool
    state: dict[str, Any]
    """`LoopState.dump()`: fresh, or the checkpoint of an approval being resumed."""
    decision: dict[str, Any] | None = None
    passages: list[dict[str, Any]] = Field(default_factory=list)


class ModelCall(BaseModel):
    """One model turn of an agent loop (`agentdeck.agent.model`)."""

    task: AgentTask
    request: ChatRequest
    iteration: int


class ToolCallTask(BaseModel):
    """One tool call of an agent loop (`agentdeck.agent.tool`), numbered `index`."""

    task: AgentTask
    call: ToolCall
    index: int
    rejected: str | None = None
    tools: list[str]
    memory: bool
    passages: list[dict[str, Any]] = Field(default_factory=list)


class ToolAnswer(BaseModel):
    """The tool message for the model, and the passages citable after the call."""

    message: ChatMessage
    passages: list[dict[str, Any]] = Field(default_factory=list)


class AgentEnd(BaseModel):
    """The loop's final answer, to be turned into the node's output (`agentdeck.agent.finish`)."""

    task: AgentTask
    state: dict[str, Any]
    passages: list[dict[str, Any]] = Field(default_factory=list)
    result: ChatResult


# -- sub-agents as child workflows (`children`, `child_activities`) ---------------------------


class ChildStart(BaseModel):
    """Create a child run (`agentdeck.child.start`): of `agent` in the parent's space, its
    id derived from `key`; `step` (a subagent node's running attempt) and `before` (an agent
    tool's `tool.called`) are journaled with its `subagent.started`, once."""

    run_id: str
    org_id: str
    key: str
    agent: str
    inputs: dict[str, Any]
    node_id: str
    index: int | None = None
    options: Options
    step: Step | None = None
    before: list[Event] = Field(default_factory=list)


class ChildStarted(BaseModel):
    """The child run's workflow input, or the NodeError that kept it from existing."""

    input: RunInput | None = None
    error: dict[str, Any] | None = None


class ChildEnd(BaseModel):
    """Record how a child run ended (`agentdeck.child.end`): `subagent.ended`, and either
    the subagent node's step closed (`step`) or the agent tool's `tool.result` (`tool`)."""

    run_id: str
    org_id: str
    child_run_id: str | None = None
    agent: str
    key: str
    node_id: str
    index: int | None = None
    failure: dict[str, Any] | None = None
    """Why the parent stopped waiting (timeout, cancelled, the child workflow failed)."""
    step: Step | None = None
    """The running attempt to close; its `output` is the default of `on_error: continue`."""
    tool: dict[str, Any] | None = None
    """`{node, call_id, name, index}` of the agent tool call."""


class ChildEnded(BaseModel):
    """The child's end: its status and output, the closed step or the tool's message."""

    status: str
    output: Any = None
    error: dict[str, Any] | None = None
    step: Step | None = None
    content: str | None = None

"""Run rules: who may start, see and cancel runs; creating a run enqueues its execution.

The API the LangGraph-compatible layer and the CLI call. Services never commit: the caller's
transaction does, and the `run.execute` job is enqueued inside it (a job exists only if the
run commits). After the commit this process's workers are woken at once.

Resuming an interrupted thread (``command={"resume": value}``) creates a NEW run on the thread
that starts with copies of the interrupted run's finished steps (and its interrupted human
step); the engine then records the answer and continues. The old run stays `interrupted`, so
every run keeps its own event stream and the history stays honest.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal

import jsonschema
from pydantic import ValidationError
from sqlalchemy import JSON, event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.auth.principal import Principal, require_runner
from agentdeck.engine import AgentSpec
from agentdeck.errors import Conflict, InvalidInput, NotFound
from agentdeck.kit import jsonschemas
from agentdeck.kit.db import utcnow
from agentdeck.kit.ids import uuid7
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import TenantScope
from agentdeck.models import Agent, Job, Run, RunEvent, RunStep
from agentdeck.run import _specs, quota
from agentdeck.run.events import reader
from agentdeck.run.events.bus import (
    APPROVALS_CHANGED,
    CANCEL_SIGNAL,
    RUNS_CHANGED,
    STATUS_CHANGED,
    EagerWorker,
    StreamItem,
    org_key,
    thread_key,
)
from agentdeck.run.repository import (
    FINAL,
    RunRepository,
    agent_in_space,
    pending_on_thread,
    scoped_agent,
    scoped_thread,
    scoped_version,
    spec_of,
)
from agentdeck.run.services import services_for
from agentdeck.worker import queue

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from agentdeck.runtime import Runtime

EXECUTE = "run.execute"

__all__ = [
    "CANCEL_SIGNAL",
    "EXECUTE",
    "StreamItem",
    "cancel_run",
    "create_run",
    "get_run",
    "list_runs",
    "list_steps",
    "stream_events",
    "wait_for_run",
]


def _check_inputs(spec: AgentSpec, inputs: dict[str, Any] | None) -> None:
    if spec.inputs is None:
        return
    try:
        error = jsonschemas.first_error(inputs or {}, spec.inputs)
    except jsonschema.SchemaError as exc:
        message = f"the agent's inputs schema is invalid: {exc.message}"
        raise InvalidInput(message, field="inputs") from exc
    if error is not None:
        path = ".".join(str(p) for p in error.absolute_path)
        raise InvalidInput(error.message, field=f"inputs.{path}" if path else "inputs")


def _wake_after_commit(session: AsyncSession, *signals: StreamItem) -> None:
    """After this transaction commits: wake the workers, deliver in-process signals."""
    broker = services_for(session).broker

    def on_commit(_session: Any) -> None:
        broker.wake_workers()
        for item in signals:
            broker.publish(item)

    event.listen(session.sync_session, "after_commit", on_commit, once=True)


def approvals_changed_after_commit(session: AsyncSession, org_id: uuid.UUID) -> None:
    """After this transaction commits, tell the org's approvals feeds that its inbox changed
    (a waiting run went away other than by an answer, e.g. its thread was deleted)."""
    _wake_after_commit(session, StreamItem(org_key(org_id), APPROVALS_CHANGED, {}))


_STARTED_HERE = "agentdeck_runs_started_here"


def started_here(session: AsyncSession, run_id: uuid.UUID) -> bool:
    """True when this session's commit handed the run to a worker of this process: its
    status changes are then published here, after anything the caller subscribes to now
    (so a wait may start from the status it created the run with, without reading it).
    A run a worker elsewhere takes may end before a subscription here is in place."""
    return str(run_id) in session.sync_session.info.get(_STARTED_HERE, ())


def _start_after_commit(session: AsyncSession, worker: EagerWorker, job: Job) -> None:
    """Hand ``job`` to ``worker`` once the transaction commits; free the slot otherwise."""
    settled = False

    def on_commit(session: Any) -> None:
        nonlocal settled
        if not settled:
            settled = True
            worker.start_eager(job)
            session.info.setdefault(_STARTED_HERE, set()).add(job.payload["run_id"])

    def on_end(_session: Any, transaction: Any) -> None:
        nonlocal settled
        if transaction.parent is None and not settled:
            settled = True
            worker.unreserve()

    # Listeners stay registered (removing one while SQLAlchemy dispatches is an error);
    # `settled` makes them act once. Sessions are short-lived.
    event.listen(session.sync_session, "after_commit", on_commit)
    event.listen(session.sync_session, "after_transaction_end", on_end)


async def create_run(
    session: AsyncSession,
    principal: Principal,
    *,
    agent_id: uuid.UUID,
    agent: Agent | None = None,
    agent_version: int | None = None,
    inputs: dict[str, Any] | None = None,
    thread_id: uuid.UUID | None = None,
    assistant_id: uuid.UUID | None = None,
    command: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    multitask_strategy: Literal["reject", "enqueue"] = "reject",
    parent_run_id: uuid.UUID | None = None,
) -> Run:
    """Create a pending run and enqueue its execution (in the caller's transaction).
    ``agent``: the agent ``agent_id`` names, when the caller loaded it in this session.

    Raises NotFound (agent, version or thread not visible), Forbidden (no right to run),
    InvalidInput (inputs fail the agent's schema, bad command or resume value), Conflict
    (the thread has an active run and the strategy is `reject`; nothing to resume),
    TooManyRequests (a run quota of the org is reached: `quota`).
    """
    scope = principal.scope
    if agent is None or agent.id != agent_id or not scope.can_see_space(agent.space_id):
        agent = await scoped_agent(session, scope, agent_id)
    if agent is None:
        raise NotFound("agent not found", field="agent_id")
    require_runner(principal, agent.space_id, "agent")
    repo = RunRepository(session, scope)
    thread = None
    if thread_id is not None:
        thread = await scoped_thread(session, scope, thread_id, lock=True)
        if thread is None:
            raise NotFound("thread not found", field="thread_id")
    resume_from: Run | None = None
    if command is not None:
        resume_from, version_no = await _resumable(repo, thread, agent.id, command)
        inputs = resume_from.inputs
    else:
        version_no = agent_version or agent.current_version
    spec = await _version_spec(session, scope, agent, version_no)
    if resume_from is None:
        _check_inputs(spec, inputs)
    if (
        thread is not None
        and multitask_strategy == "reject"
        and await repo.active_on_thread(thread.id)
    ):
        raise Conflict("the thread already has a run in progress", field="thread_id")
    if parent_run_id is None:
        await quota.admit(session, scope.org_id, services_for(session).settings)
    run = Run(
        id=uuid7(), org_id=scope.org_id, space_id=agent.space_id, agent_id=agent.id,
        agent_version=version_no, assistant_id=assistant_id, thread_id=thread_id,
        parent_run_id=parent_run_id, status="pending", inputs=inputs, output=JSON.NULL,
        command=command, config=config or {}, metadata_=metadata or {},
        multitask_strategy=multitask_strategy, user_id=principal.user_id,
        api_key_id=principal.api_key_id,
    )  # fmt: skip
    repo.add(run)
    await session.flush()
    if resume_from is not None:
        run.command = {**(command or {}), "from_run_id": str(resume_from.id)}
        await repo.copy_steps(resume_from, run)
    if thread is not None:
        signals = [StreamItem(thread_key(thread.id), RUNS_CHANGED, {})]
        if thread.status == "interrupted" or resume_from is not None:  # answered: inbox
            signals.append(StreamItem(org_key(run.org_id), APPROVALS_CHANGED, {}))
        thread.status = "busy"
        _wake_after_commit(session, *signals)
    await enqueue_execution(session, run)
    return run


async def create_child_run(
    session: AsyncSession,
    parent: Run,
    agent_name: str,
    inputs: dict[str, Any],
    *,
    run_id: uuid.UUID,
    idempotency_key: str,
) -> Run:
    """A sub-agent run of ``parent`` (the agent named ``agent_name`` in its space), pending,
    with its execution enqueued in the caller's transaction: the same rules as `create_run`
    (the child's inputs must fit its agent's schema), for the parent's user and key.

    Raises NotFound (no such agent in the space), InvalidInput (inputs fail the schema).
    """
    target = await agent_in_space(session, parent.space_id, agent_name)
    if target is None:
        raise NotFound(f"no agent named {agent_name!r} in this space", field="agent")
    spec = await _specs.load(
        target.id,
        target.current_version,
        lambda: spec_of(session, target.id, target.current_version),
    )
    if spec is None:
        raise NotFound(f"agent {agent_name!r} has no version {target.current_version}")
    _check_inputs(spec, inputs)
    child = Run(
        id=run_id, org_id=parent.org_id, space_id=parent.space_id, agent_id=target.id,
        agent_version=target.current_version, parent_run_id=parent.id, status="pending",
        inputs=inputs, output=JSON.NULL, config={},
        metadata_={"idempotency_key": idempotency_key}, user_id=parent.user_id,
        api_key_id=parent.api_key_id,
    )  # fmt: skip
    session.add(child)
    await session.flush()
    await enqueue_execution(session, child)
    return child


async def _version_spec(
    session: AsyncSession, scope: TenantScope, agent: Agent, version_no: int
) -> AgentSpec:
    """The agent's version, parsed; read once per process (`_specs`: versions never change).
    The caller has checked that the agent is visible."""

    async def read() -> dict[str, Any] | None:
        version = await scoped_version(session, scope, agent, version_no)
        return None if version is None else version.spec

    try:
        spec = await _specs.load(agent.id, version_no, read)
    except ValidationError as exc:
        raise InvalidInput(
            f"stored agent version is invalid: {exc}", field="agent_version"
        ) from exc
    if spec is None:
        raise NotFound(f"agent version {version_no} not found", field="agent_version")
    return spec


async def enqueue_execution(session: AsyncSession, run: Run) -> None:
    """Add the run's `run.execute` job to the transaction; after the commit, hand it to a
    worker of this process with a free slot (eager dispatch), or wake the workers."""
    executor = services_for(session).executor
    if executor is not None:  # another engine (Temporal) executes runs: no job
        executor.start_after_commit(session, run.id)
        return
    worker = services_for(session).broker.reserve_worker()
    try:
        job = await queue.enqueue(
            session, EXECUTE, {"run_id": str(run.id)}, org_id=run.org_id,
            dedupe_key=execution_key(run.id), lease_owner=worker.id if worker else None,
            lease_s=worker.lease_s if worker else 0.0,
        )  # fmt: skip
    except BaseException:
        if worker is not None:
            worker.unreserve()
        raise
    if worker is not None:
        if job is None:
            worker.unreserve()
        else:
            _start_after_commit(session, worker, job)
            return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        await session.execute(text("SELECT pg_notify('agentdeck_jobs', :kind)"), {"kind": EXECUTE})
    _wake_after_commit(session)


def execution_key(run_id: uuid.UUID) -> str:
    """The dedupe key of a run's `run.execute` job."""
    return f"run:{run_id}:1"


async def release_thread(session: AsyncSession, thread_id: uuid.UUID) -> None:
    """A run of the thread has ended: runs queued behind it (``multitask_strategy="enqueue"``)
    become due now instead of at their next retry; the workers are woken after the commit."""
    waiting = await pending_on_thread(session, thread_id)
    if waiting and await queue.make_due(session, [execution_key(r) for r in waiting]):
        _wake_after_commit(session)


async def _resumable(
    repo: RunRepository, thread: Any, agent_id: uuid.UUID, command: dict[str, Any]
) -> tuple[Run, int]:
    if set(command) != {"resume"}:
        raise InvalidInput("command supports only {'resume': value}", field="command")
    if thread is None:
        raise InvalidInput("command.resume needs a thread_id", field="thread_id")
    last = await repo.last_on_thread(thread.id)
    if last is None or last.status != "interrupted":
        raise Conflict("the thread's last run is not interrupted", field="command")
    if last.agent_id != agent_id:
        raise Conflict("the interrupted run belongs to another agent", field="agent_id")
    schema = (last.interrupt or {}).get("schema")
    if schema:
        try:
            jsonschemas.validate(command["resume"], schema)
        except jsonschema.ValidationError as exc:
            raise InvalidInput(exc.message, field="command.resume") from exc
    return last, last.agent_version


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> Run:
    """One run the caller can see. Raises NotFound (also for other tenants' runs)."""
    run = await RunRepository(session, principal.scope).get(run_id)
    if run is None:
        raise NotFound("run not found")
    return run


async def cancel_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> Run:
    """Request cancellation. A pending run, or one no worker holds (no `run.execute` job of
    it runs under a live lease: its worker died, or its job waits for a retry), is cancelled
    at once and its thread freed; a held one stops at its next check (in-process:
    immediately). Finished runs are returned unchanged."""
    run = await get_run(session, principal, run_id)
    require_runner(principal, run.space_id, "run")
    if run.status in FINAL:
        return run
    run.cancel_requested = True
    signals = [StreamItem(str(run.id), CANCEL_SIGNAL, {})]
    executor = services_for(session).executor
    if executor is not None:  # its workflow records the cancellation of a started run
        executor.cancel_after_commit(session, run.id)
    if run.status == "pending" or not (
        executor is not None or await queue.held(session, EXECUTE, "run_id", str(run.id))
    ):
        signals.append(StreamItem(str(run.id), STATUS_CHANGED, {}))
        run.status, run.ended_at = "cancelled", utcnow()
        seq = await _next_seq(session, principal, run)
        session.add(
            RunEvent(org_id=run.org_id, run_id=run.id, seq=seq, type="run.cancelled", data={})
        )
        if run.thread_id is not None:
            thread = await scoped_thread(session, principal.scope, run.thread_id)
            if thread is not None and thread.status == "busy":
                thread.status = "idle"
            await release_thread(session, run.thread_id)
    await session.flush()
    _wake_after_commit(session, *signals)
    return run


async def _next_seq(session: AsyncSession, principal: Principal, run: Run) -> int:
    from sqlalchemy import func, select

    from agentdeck.kit.tenancy import scoped

    stmt = select(func.coalesce(func.max(RunEvent.seq), 0)).where(
        RunEvent.org_id == principal.org_id, RunEvent.run_id == run.id
    )
    return (
        int((await session.execute(stmt.execution_options(**scoped(principal.scope)))).scalar_one())
        + 1
    )


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    *,
    agent_id: uuid.UUID | None = None,
    thread_id: uuid.UUID | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    parent_run_id: uuid.UUID | None = None,
) -> Page[Run]:
    """The caller's visible runs, newest first (``parent_run_id``: a run's sub-agent runs).
    Raises InvalidCursor."""
    return await RunRepository(session, principal.scope).list(
        agent_id=agent_id, thread_id=thread_id, status=status, limit=limit, cursor=cursor,
        parent_run_id=parent_run_id,
    )  # fmt: skip


async def runs_on_thread(
    session: AsyncSession,
    principal: Principal,
    thread_id: uuid.UUID,
    *,
    statuses: set[str] | None = None,
    limit: int = 10,
    offset: int = 0,
) -> list[Run]:
    """A visible thread's runs, newest first: ``limit`` after ``offset``, optionally only
    those in ``statuses`` (the caller checked the thread)."""
    repo = RunRepository(session, principal.scope)
    return list(await repo.on_thread(thread_id, statuses=statuses, limit=limit, offset=offset))


async def list_steps(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID
) -> list[RunStep]:
    """Every step attempt of a visible run, in start order. Raises NotFound."""
    return await steps_of(session, principal, await get_run(session, principal, run_id))


async def step_outputs(session: AsyncSession, principal: Principal, run: Run) -> dict[str, Any]:
    """Node id -> output of each completed node of ``run`` (visible to the principal:
    checked), the latest attempt winning: the `steps` of the run's state."""
    return await RunRepository(session, principal.scope).step_outputs(run.id)


async def steps_of(session: AsyncSession, principal: Principal, run: Run) -> list[RunStep]:
    """Every step attempt of ``run`` (visible to the principal: checked), in start order."""
    return list(await RunRepository(session, principal.scope).steps(run.id))


def _sessionmaker(
    source: Runtime | async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    if isinstance(source, async_sessionmaker):
        return source
    return source.sessionmaker


async def stream_events(
    runtime: Runtime | async_sessionmaker[AsyncSession],
    principal_or_run: Principal | Run,
    run_id: uuid.UUID,
    *,
    after_seq: int = 0,
    include_deltas: bool = True,
    on_subscribed: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[StreamItem]:
    """A visible run's events: replayed after ``after_seq``, then live, until it stops
    (`events.reader.stream_events`). Pass the run itself when access is already checked.

    Raises NotFound when the principal cannot see the run, ShuttingDown when this process
    begins to stop (the run itself goes on).
    """
    sessionmaker = _sessionmaker(runtime)
    run = principal_or_run
    if not isinstance(run, Run):
        async with sessionmaker() as session:
            run = await get_run(session, run, run_id)
    async for item in reader.stream_events(
        sessionmaker, run, after_seq=after_seq, include_deltas=include_deltas,
        on_subscribed=on_subscribed,
    ):  # fmt: skip
        yield item


async def wait_for_run(
    runtime: Runtime | async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    *,
    timeout_s: float | None = None,
    ends_at_shutdown: bool = True,
) -> Run:
    """The run once it stopped (`events.reader.wait_for_run`). Ids only: check access first
    (`get_run`). Raises NotFound, TimeoutError after ``timeout_s``, or (with
    ``ends_at_shutdown``) ShuttingDown when this process begins to stop."""
    return await reader.wait_for_run(
        _sessionmaker(runtime), run_id, timeout_s=timeout_s, ends_at_shutdown=ends_at_shutdown
    )


async def wait_until_stopped(
    runtime: Runtime | async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    *,
    known: str | None = None,
) -> str:
    """The run's final status once it stopped, without reading the run at the end
    (`events.reader.wait_until_stopped`). Ids only: check access first. Raises NotFound,
    ShuttingDown when this process begins to stop."""
    return await reader.wait_until_stopped(_sessionmaker(runtime), run_id, known=known)

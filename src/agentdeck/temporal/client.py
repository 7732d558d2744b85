"""Starting, cancelling and resuming runs' workflows: the run service's executor on Temporal.

`run.service` hands a committed run here instead of enqueueing its `run.execute` job
(`RunServices.executor`). Everything happens after the caller's commit, so a workflow exists
only for a run that exists; a start is idempotent (workflow id = run id, and an id used once
is never reused), so a run started twice is one workflow. A start lost between the commit
and Temporal (the API process died) is made later by a worker's `sweeper`. A run continuing
an interrupted one (`command.resume`) first sends the interrupted run's waiting workflow the
`resume` update, then starts its own workflow.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from agentdeck.config import TemporalSettings
from agentdeck.run.repository import run_by_id, spec_of
from agentdeck.run.services import services_for
from agentdeck.temporal._types import Options, ResumeRequest, RunInput
from agentdeck.temporal.payloads import data_converter
from agentdeck.temporal.workflow import RunWorkflow

log = structlog.get_logger(__name__)


async def connect(
    settings: TemporalSettings, sessionmaker: async_sessionmaker[AsyncSession] | None = None
) -> Client:
    """A client of the configured namespace, converting data with pydantic; with a
    database, payloads over `payload_limit_bytes` are stored there (`payloads`)."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=data_converter(sessionmaker, settings.payload_limit_bytes),
    )


class TemporalExecutor:
    """Runs' workflows for the processes of one database (API and workers alike)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: TemporalSettings,
        client: Client | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self._client = client
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def client(self) -> Client:
        """The Temporal client, connected on first use."""
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.settings, self.sessionmaker)
        return self._client

    def options(self) -> Options:
        run = services_for(self.sessionmaker).settings
        s = self.settings
        return Options(
            heartbeat_timeout_s=s.heartbeat_timeout_s,
            activity_timeout_s=s.activity_timeout_s,
            lost_attempts=s.lost_attempts,
            max_history_events=s.max_history_events,
            interrupt_wait_s=s.interrupt_wait_s,
            max_concurrency=run.max_concurrency,
            requeue_delay_s=run.requeue_delay_s,
        )

    # -- the run service's hooks -----------------------------------------------------------

    def start_after_commit(self, session: AsyncSession, run_id: uuid.UUID) -> None:
        """Start the run's workflow once ``session`` commits."""
        self._after_commit(session, lambda: self.start(run_id))

    def cancel_after_commit(self, session: AsyncSession, run_id: uuid.UUID) -> None:
        """Cancel the run's workflow once ``session`` commits."""
        self._after_commit(session, lambda: self.cancel(run_id))

    def _after_commit(self, session: AsyncSession, work: Callable[[], Awaitable[object]]) -> None:
        loop = asyncio.get_running_loop()

        def on_commit(_session: Any) -> None:
            task = loop.create_task(self._logged(work))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        event.listen(session.sync_session, "after_commit", on_commit, once=True)

    async def _logged(self, work: Callable[[], Awaitable[object]]) -> None:
        try:
            await work()
        except Exception:
            log.exception("temporal.call_failed")

    async def settled(self) -> None:
        """Wait for the starts and cancels handed over so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- calls -----------------------------------------------------------------------------

    async def start(self, run_id: uuid.UUID) -> bool:
        """Start the run's workflow; False when it was started before (running or not) or
        the run is gone."""
        async with self.sessionmaker() as session:
            run = await run_by_id(session, run_id)
            if run is None:
                return False
            spec = await spec_of(session, run.agent_id, run.agent_version)
            command = dict(run.command or {})
            org_id, agent_id, version, inputs = (
                run.org_id,
                run.agent_id,
                run.agent_version,
                run.inputs,
            )
        if spec is None:
            return False  # the prepare activity of a started workflow would fail it the same way
        client = await self.client()
        if "from_run_id" in command and "resume" in command:
            await self._hand_over(
                client, str(command["from_run_id"]), str(run_id), command["resume"]
            )
        payload = RunInput(
            run_id=str(run_id),
            org_id=str(org_id),
            agent_id=str(agent_id),
            agent_version=version,
            spec=spec,
            inputs=inputs,
            options=self.options(),
        )
        try:
            await client.start_workflow(
                RunWorkflow.run,
                payload,
                id=str(run_id),
                task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:  # started before: one run, one workflow
            return False
        return True

    async def cancel(self, run_id: uuid.UUID) -> None:
        """Request cancellation of the run's workflow (nothing when there is none)."""
        client = await self.client()
        try:
            await client.get_workflow_handle(str(run_id)).cancel()
        except RPCError as exc:
            log.info("temporal.cancel_unknown", run_id=str(run_id), error=str(exc))

    async def _hand_over(self, client: Client, waiting: str, run_id: str, value: Any) -> None:
        """Tell the interrupted run's workflow who continues it. A refusal (no such
        workflow, or one not waiting) changes nothing: the new run checks the answer
        itself and fails with kind `resume` when the node refuses it."""
        handle = client.get_workflow_handle(waiting)
        try:
            await handle.execute_update("resume", ResumeRequest(run_id=run_id, value=value))
        except (WorkflowUpdateFailedError, RPCError) as exc:
            log.info("temporal.resume_refused", run_id=waiting, by=run_id, error=str(exc))


__all__ = ["TemporalExecutor", "connect"]

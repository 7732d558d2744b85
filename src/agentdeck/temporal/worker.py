"""The Temporal worker of a process, and the wiring that makes Temporal the run engine.

`attach(runtime)` sets the run service's executor (so creating, cancelling and resuming a
run talk to Temporal instead of the job queue); `TemporalWorker` is a companion of
`agentdeck worker` (and of `agentdeck serve`'s in-process worker) that polls the task queue
for the run workflow and its activities, and sweeps for runs whose start was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agentdeck.config import TemporalSettings
from agentdeck.run.services import services_for
from agentdeck.temporal.activities import Activities
from agentdeck.temporal.agent_activities import AgentActivities
from agentdeck.temporal.child_activities import ChildActivities
from agentdeck.temporal.client import TemporalExecutor
from agentdeck.temporal.sweeper import Sweeper
from agentdeck.temporal.workflow import RunWorkflow

if TYPE_CHECKING:
    from agentdeck.runtime import Runtime

log = structlog.get_logger(__name__)

# Imported once, outside the sandbox: the engine is deterministic code of ours, and these
# libraries keep module-level caches (compiled templates, schemas) that are safe to share.
PASSTHROUGH = (
    "agentdeck",
    "jinja2",
    "markupsafe",
    "jsonschema",
    "referencing",
    "rpds",
    "pydantic",
    "pydantic_core",
    "structlog",
    "sqlalchemy",
    "httpx",
    "anyio",
    "yaml",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def build_worker(
    client: Client,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: TemporalSettings,
    *,
    max_concurrent_activities: int = 200,
) -> Worker:
    """A worker of the run workflow and its activities on the configured task queue."""
    activities = Activities(sessionmaker)
    agent, child = AgentActivities(activities), ChildActivities(activities)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[RunWorkflow],
        activities=[
            activities.prepare,
            activities.record,
            activities.fail_step,
            activities.close_step,
            activities.finish,
            activities.node,
            agent.setup,
            agent.model,
            agent.tool,
            agent.finish,
            child.start,
            child.end,
        ],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=5),
        # a worker killed holding a run's cached workflow: its next task moves to another
        # worker after this (default 10 s), as a lost activity does after its heartbeat
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.heartbeat_timeout_s),
    )


def attach(runtime: Runtime) -> TemporalExecutor:
    """Make Temporal the executor of this process's runs (idempotent)."""
    services = services_for(runtime.engine)
    if not isinstance(services.executor, TemporalExecutor):
        services.executor = TemporalExecutor(runtime.sessionmaker, runtime.settings.temporal)
    return services.executor


class TemporalWorker:
    """A worker companion: polls the task queue until cancelled."""

    def __init__(self, runtime: Runtime) -> None:
        self.executor = attach(runtime)
        self.sessionmaker = runtime.sessionmaker

    async def run(self) -> None:
        client = await self.executor.client()
        worker = build_worker(client, self.sessionmaker, self.executor.settings)
        sweeper = asyncio.create_task(Sweeper(self.executor, self.sessionmaker).run())
        log.info("temporal.worker_started", task_queue=self.executor.settings.task_queue)
        try:
            await worker.run()
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper


__all__ = ["PASSTHROUGH", "TemporalWorker", "attach", "build_worker", "workflow_runner"]

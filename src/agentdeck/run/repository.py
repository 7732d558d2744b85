"""Run queries: scoped ones for callers, and id-only ones (``tenant_bypass``) for the worker.

The agent, thread, provider and alias tables are read here directly (this feature's own
queries), never through another feature's repository.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from agentdeck.kit.pagination import Page
from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.statements import built, row_params, table_of, update_row
from agentdeck.kit.tenancy import TenantScope, scoped
from agentdeck.models import Agent, AgentVersion, Organization, Run, RunEvent, RunStep, Thread

_WORKER = {"tenant_bypass": "run-worker"}
ACTIVE = ("pending", "running")
FINAL = ("completed", "failed", "cancelled", "interrupted")


def _step_outputs() -> Any:
    return (
        select(RunStep.node_id, RunStep.output)
        .where(
            RunStep.org_id == bindparam("k_org"),
            RunStep.run_id == bindparam("run_id"),
            RunStep.item_index == -1,
            RunStep.status == "completed",
        )
        .order_by(RunStep.id)
    )


class RunRepository(ScopedRepository[Run]):
    model = Run

    async def list(
        self,
        *,
        agent_id: uuid.UUID | None,
        thread_id: uuid.UUID | None,
        status: str | None,
        limit: int,
        cursor: str | None,
        parent_run_id: uuid.UUID | None = None,
    ) -> Page[Run]:
        stmt = self._runs_where(agent_id, thread_id, {status} if status else None)
        if parent_run_id is not None:
            stmt = stmt.where(Run.parent_run_id == parent_run_id)
        return await self.page(stmt, limit=limit, cursor=cursor)

    async def on_thread(
        self, thread_id: uuid.UUID, *, statuses: set[str] | None, limit: int, offset: int
    ) -> Sequence[Run]:
        """The thread's runs, newest first, filtered and windowed in SQL."""
        stmt = self._runs_where(None, thread_id, statuses)
        return await self.window(stmt, limit=limit, offset=offset)

    def _runs_where(
        self, agent_id: uuid.UUID | None, thread_id: uuid.UUID | None, statuses: set[str] | None
    ) -> Any:
        stmt = self.select()
        if agent_id is not None:
            stmt = stmt.where(Run.agent_id == agent_id)
        if thread_id is not None:
            stmt = stmt.where(Run.thread_id == thread_id)
        if statuses is not None:
            stmt = stmt.where(Run.status.in_(sorted(statuses)))
        return stmt

    async def last_on_thread(self, thread_id: uuid.UUID) -> Run | None:
        stmt = self.select().where(Run.thread_id == thread_id).order_by(Run.id.desc()).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def active_on_thread(self, thread_id: uuid.UUID) -> Sequence[Run]:
        return await self.all(
            self.select().where(Run.thread_id == thread_id, Run.status.in_(ACTIVE))
        )

    async def steps(self, run_id: uuid.UUID) -> Sequence[RunStep]:
        stmt = (
            select(RunStep)
            .where(RunStep.org_id == self.scope.org_id, RunStep.run_id == run_id)
            .order_by(RunStep.id)
            .execution_options(**scoped(self.scope))
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def step_outputs(self, run_id: uuid.UUID) -> dict[str, Any]:
        """Node id -> output of the run's completed node steps (not their items), read as
        columns: the state a run ends with, without loading every attempt as an object."""
        stmt = built(("step_outputs",), _step_outputs)
        rows = await self.session.execute(
            stmt, {"k_org": self.scope.org_id, "run_id": run_id},
            execution_options=scoped(self.scope),
        )  # fmt: skip
        return {node: output for node, output in rows}

    async def copy_steps(self, source: Run, target: Run) -> int:
        """Copy every finished-or-interrupted step of ``source`` into ``target`` (resume)."""
        rows = await self.steps(source.id)
        now = dt.datetime.now(dt.UTC)
        for row in rows:
            if row.status == "running":
                continue
            self.session.add(
                RunStep(
                    org_id=row.org_id, run_id=target.id, node_id=row.node_id,
                    item_index=row.item_index, attempt=row.attempt, status=row.status,
                    idempotency_key=row.idempotency_key, input=row.input, output=row.output,
                    error=row.error, started_at=row.started_at, ended_at=row.ended_at or now,
                    tokens_in=0, tokens_out=0, cost_usd=0.0,
                )
            )  # fmt: skip
        return len(rows)


async def scoped_agent(
    session: AsyncSession, scope: TenantScope, agent_id: uuid.UUID
) -> Agent | None:
    """The agent if the scope sees it; one this session already loaded is not read again."""
    known = session.sync_session.identity_map.get(identity_key(Agent, agent_id))
    if isinstance(known, Agent):
        seen = known.org_id == scope.org_id and scope.can_see_space(known.space_id)
        return known if seen else None
    stmt = select(Agent).where(
        Agent.id == agent_id,
        Agent.org_id == scope.org_id,
        Agent.space_id.in_(list(scope.space_ids)),
    )
    return (await session.execute(stmt.execution_options(**scoped(scope)))).scalar_one_or_none()


async def scoped_version(
    session: AsyncSession, scope: TenantScope, agent: Agent, version: int
) -> AgentVersion | None:
    stmt = select(AgentVersion).where(
        AgentVersion.agent_id == agent.id,
        AgentVersion.org_id == scope.org_id,
        AgentVersion.version == version,
    )
    return (await session.execute(stmt.execution_options(**scoped(scope)))).scalar_one_or_none()


async def scoped_thread(
    session: AsyncSession, scope: TenantScope, thread_id: uuid.UUID, *, lock: bool = False
) -> Thread | None:
    stmt = select(Thread).where(
        Thread.id == thread_id,
        Thread.org_id == scope.org_id,
        Thread.space_id.in_(list(scope.space_ids)),
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.execute(stmt.execution_options(**scoped(scope)))).scalar_one_or_none()


# ---- the worker: ids only ----------------------------------------------------------------


def _column(key: str) -> Any:
    return Run.__mapper__.column_attrs[key].columns[0]


def _run_by_id() -> Any:
    return select(Run).where(Run.id == bindparam("id")).execution_options(**_WORKER)


async def run_by_id(session: AsyncSession, run_id: uuid.UUID) -> Run | None:
    stmt = built(("run_by_id",), _run_by_id)
    return (await session.execute(stmt, {"id": run_id})).scalar_one_or_none()


async def spec_of(
    session: AsyncSession, agent_id: uuid.UUID, version: int
) -> dict[str, Any] | None:
    stmt = (
        select(AgentVersion.spec)
        .where(AgentVersion.agent_id == agent_id, AgentVersion.version == version)
        .execution_options(**_WORKER)
    )
    spec: dict[str, Any] | None = (await session.execute(stmt)).scalar_one_or_none()
    return spec


async def thread_by_id(session: AsyncSession, thread_id: uuid.UUID) -> Thread | None:
    stmt = select(Thread).where(Thread.id == thread_id).execution_options(**_WORKER)
    return (await session.execute(stmt)).scalar_one_or_none()


async def org_quotas(session: AsyncSession, org_id: uuid.UUID) -> tuple[int | None, int | None]:
    """The run quotas the org's owners set: (runs in flight, runs per minute)."""
    stmt = select(Organization.max_runs_in_flight, Organization.max_runs_per_minute).where(
        Organization.id == org_id
    )
    row = (await session.execute(stmt)).first()
    return (None, None) if row is None else (row[0], row[1])


async def runs_in_flight(session: AsyncSession, org_id: uuid.UUID) -> int:
    """How many of the org's runs are pending or running."""
    stmt = (
        select(func.count())
        .select_from(Run)
        .where(Run.org_id == org_id, Run.status.in_(ACTIVE))
        .execution_options(**_WORKER)
    )
    return int((await session.execute(stmt)).scalar_one())


async def runs_created_since(
    session: AsyncSession, org_id: uuid.UUID, since: dt.datetime
) -> tuple[int, dt.datetime | None]:
    """How many runs the org created since ``since``, and when the oldest of them was."""
    stmt = (
        select(func.count(), func.min(Run.created_at))
        .where(Run.org_id == org_id, Run.created_at >= since)
        .execution_options(**_WORKER)
    )
    count, oldest = (await session.execute(stmt)).one()
    return int(count), oldest


async def earlier_active_on_thread(session: AsyncSession, run: Run) -> bool:
    """True when another run of the run's thread, created before it, is still active."""
    if run.thread_id is None:
        return False
    stmt = (
        select(Run.id)
        .where(Run.thread_id == run.thread_id, Run.id < run.id, Run.status.in_(ACTIVE))
        .limit(1)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).first() is not None


async def pending_on_thread(session: AsyncSession, thread_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the thread's runs still waiting to start, oldest first."""
    stmt = (
        select(Run.id)
        .where(Run.thread_id == thread_id, Run.status == "pending")
        .order_by(Run.id)
        .execution_options(**_WORKER)
    )
    return list((await session.execute(stmt)).scalars())


async def set_run(
    session: AsyncSession, run_id: uuid.UUID, *, when: tuple[str, ...] | None = None, **values: Any
) -> bool:
    """Update the run (only while its status is in ``when``); True when a row changed.

    A statement built once per shape (`kit.statements`): the ORM's bulk update cost twice as
    much, and building the statement more than running it. A `Run` of this session that is
    loaded gets the new values as its committed state."""
    keys = tuple(values)
    if when is None or len(when) == 1:
        guard = () if when is None else ("status",)
        stmt = update_row(Run, keys, guard)
        params = row_params(run_id, values, **({"status": when[0]} if when else {}))
    else:  # several statuses: rare (no prepared shape)
        table = table_of(Run)
        stmt = update(table).where(table.c.id == bindparam("k_id"), table.c.status.in_(when))
        stmt = stmt.values({_column(key): bindparam(f"v_{key}") for key in keys})
        params = row_params(run_id, values)
    result = await session.execute(stmt, params)
    changed = bool(getattr(result, "rowcount", 0))
    if changed:
        _sync(session, Run, run_id, values)
    return changed


def _sync(
    session: AsyncSession, model: type[Any], ident: uuid.UUID, values: dict[str, Any]
) -> None:
    """Give the session's loaded object the values a Core update stored (no flush follows)."""
    loaded = session.sync_session.identity_map.get(identity_key(model, ident))
    if loaded is not None:
        for key, value in values.items():
            set_committed_value(loaded, key, value)


async def cancel_requested(session: AsyncSession, run_id: uuid.UUID) -> bool:
    stmt = select(Run.cancel_requested).where(Run.id == run_id).execution_options(**_WORKER)
    return bool((await session.execute(stmt)).scalar_one_or_none())


async def watched_runs(
    session: AsyncSession, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, int, bool]]:
    """(status, last event seq, cancel requested) of each of ``run_ids``, in one query."""
    last = (
        select(func.coalesce(func.max(RunEvent.seq), 0))
        .where(RunEvent.run_id == Run.id)
        .correlate(Run)
        .scalar_subquery()
    )
    stmt = (
        select(Run.id, Run.status, last, Run.cancel_requested)
        .where(Run.id.in_(run_ids))
        .execution_options(**_WORKER)
    )
    rows = await session.execute(stmt)
    return {rid: (status, int(seq), bool(cancel)) for rid, status, seq, cancel in rows}


async def cancelling(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``run_ids`` whose cancellation was requested."""
    stmt = (
        select(Run.id)
        .where(Run.id.in_(run_ids), Run.cancel_requested.is_(True))
        .execution_options(**_WORKER)
    )
    return set((await session.execute(stmt)).scalars())


async def thread_run_counts(
    session: AsyncSession, thread_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many runs each of ``thread_ids`` has (those with none are left out)."""
    stmt = (
        select(Run.thread_id, func.count(Run.id))
        .where(Run.thread_id.in_(thread_ids))
        .group_by(Run.thread_id)
        .execution_options(**_WORKER)
    )
    return {tid: int(n) for tid, n in await session.execute(stmt) if tid is not None}


async def last_event_seq(session: AsyncSession, run_id: uuid.UUID) -> int:
    """The run's highest event sequence number (0 before its first event)."""
    stmt = select(func.coalesce(func.max(RunEvent.seq), 0)).where(RunEvent.run_id == run_id)
    return int((await session.execute(stmt.execution_options(**_WORKER))).scalar_one())


async def set_thread(session: AsyncSession, thread_id: uuid.UUID, **values: Any) -> None:
    """Update the thread row (a statement built once per shape, as `set_run`)."""
    await session.execute(update_row(Thread, tuple(values)), row_params(thread_id, values))
    _sync(session, Thread, thread_id, values)


async def agent_in_space(session: AsyncSession, space_id: uuid.UUID, name: str) -> Agent | None:
    stmt = (
        select(Agent)
        .where(Agent.space_id == space_id, Agent.name == name)
        .execution_options(**_WORKER)
    )
    return (await session.execute(stmt)).scalar_one_or_none()

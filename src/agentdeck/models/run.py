"""Threads, runs and the durable step journal with its events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import OrgOwned, SpaceOwned
from agentdeck.models.base import Base, JSONType, SpaceColumn


class Thread(SpaceColumn, SpaceOwned, Base):
    """A conversation / state container; its ``values`` are the latest run's state."""

    __tablename__ = "threads"

    status: Mapped[str] = mapped_column(String(16), default="idle")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    values: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    interrupts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, default=None)
    assistant_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("assistants.id", ondelete="SET NULL"), default=None
    )


class Run(SpaceColumn, SpaceOwned, Base):
    """One execution of one agent version. Steps and events hang off it."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_org_status", "org_id", "status"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    agent_version: Mapped[int]
    assistant_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("assistants.id", ondelete="SET NULL"), default=None
    )
    thread_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("threads.id", ondelete="CASCADE"), default=None, index=True
    )
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("runs.id", ondelete="CASCADE"), default=None
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    output: Mapped[Any] = mapped_column(JSONType, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    interrupt: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    command: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    multitask_strategy: Mapped[str] = mapped_column(String(16), default="reject")
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    tokens_in: Mapped[int] = mapped_column(default=0)
    tokens_out: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)


class _RunJournalRow:
    """``org_id`` and ``run_id`` of a journal row; the journal writes its run's ``org_id``.
    Its one foreign key is to the run: deleting an organisation deletes its runs, and a
    run's rows go with it. No key to the organisation as well: on the journal's hottest path
    it cost a lookup and a share lock on the one row all of an org's runs share, per insert,
    to check what the run's key already guarantees (its organisation exists)."""

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid(), index=True)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("runs.id", ondelete="CASCADE"))


class RunStep(_RunJournalRow, OrgOwned, Base):
    """One attempt of one step (``item_index`` -1 for the node itself, else the for_each item)."""

    __tablename__ = "run_steps"
    # The unique key leads with run_id, so it serves run_id lookups: no index of its own
    # (each index is one more page written by every journal commit).
    __table_args__ = (UniqueConstraint("run_id", "node_id", "item_index", "attempt"),)

    node_id: Mapped[str] = mapped_column(String(100))
    item_index: Mapped[int] = mapped_column(default=-1)
    attempt: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    input: Mapped[Any] = mapped_column(JSONType, default=None)
    output: Mapped[Any] = mapped_column(JSONType, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    tokens_in: Mapped[int] = mapped_column(default=0)
    tokens_out: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)


class RunEvent(_RunJournalRow, OrgOwned, Base):
    """A durable run event with its per-run sequence number (SSE ``Last-Event-ID``)."""

    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)  # also serves run_id lookups

    seq: Mapped[int]
    type: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

"""Toolsets of a space (builtin, openapi, mcp) and the durable record of tool calls."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import SpaceOwned
from agentdeck.models.base import Base, JSONType, SpaceColumn


class Toolset(SpaceColumn, SpaceOwned, Base):
    """One toolset: a slug ``name`` unique in its space, a ``kind`` and its ``config``
    (JSON, never a secret: those stay in the credential it names).

    ``tools`` is the snapshot of its tool list (``[{name, description, input_schema}]``)
    taken when it was created, changed or refreshed, with ``tools_hash`` (SHA-256 of its
    canonical JSON): agent definitions are validated against it without reaching out.
    """

    __tablename__ = "toolsets"
    __table_args__ = (UniqueConstraint("space_id", "name", name="uq_toolsets_space_id_name"),)

    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    credential_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("credentials.id", ondelete="SET NULL"), default=None, index=True
    )
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    tools_hash: Mapped[str] = mapped_column(String(64), default="")
    refreshed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


class ToolCallRecord(SpaceColumn, SpaceOwned, Base):
    """The outcome of one tool call, written (and committed) before the result goes back
    to the run: a call whose ``idempotency_key`` finished is answered from here and never
    made again (a worker that died after the call). ``run_id`` is None for calls tried
    through the API."""

    __tablename__ = "tool_calls"

    run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("runs.id", ondelete="CASCADE"), default=None, index=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(300), default=None, unique=True)
    toolset: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(200))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[Any] = mapped_column(JSONType, default=None, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None, nullable=True)

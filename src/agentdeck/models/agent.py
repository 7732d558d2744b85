"""Agents (versioned graph definitions) and their LangGraph-style assistants."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import SpaceOwned
from agentdeck.models.base import Base, JSONType, SpaceColumn


class Agent(SpaceColumn, SpaceOwned, Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("space_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    current_version: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


class AgentVersion(SpaceColumn, SpaceOwned, Base):
    """An immutable version: the validated spec (JSON) and the source it came from."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


class Assistant(SpaceColumn, SpaceOwned, Base):
    """A configured agent (LangGraph's assistant). Every agent has a default one."""

    __tablename__ = "assistants"

    agent_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    is_default: Mapped[bool] = mapped_column(default=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    version: Mapped[int] = mapped_column(default=1)
    agent_version: Mapped[int | None] = mapped_column(default=None)


class AssistantVersion(SpaceColumn, SpaceOwned, Base):
    __tablename__ = "assistant_versions"
    __table_args__ = (UniqueConstraint("assistant_id", "version"),)

    assistant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("assistants.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    agent_version: Mapped[int | None] = mapped_column(default=None)

"""Thread memory: the conversation of a thread's conversational agents, and its summary."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import SpaceOwned
from agentdeck.models.base import Base, JSONType, SpaceColumn


class ThreadMemory(SpaceColumn, SpaceOwned, Base):
    """One thread's messages (`{id, role, content, tool_calls, tool_call_id, turn}` dicts,
    in order) and the running summary of the first ``summarised`` of them, written during
    the turn ``summary_turn`` (a step's idempotency key). Deleted with its thread."""

    __tablename__ = "thread_memories"

    thread_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("threads.id", ondelete="CASCADE"), unique=True
    )
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    summarised: Mapped[int] = mapped_column(Integer, default=0)
    summary_turn: Mapped[str | None] = mapped_column(String(300), default=None)

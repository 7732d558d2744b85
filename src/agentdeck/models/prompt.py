"""Prompts of a space: immutable versions, and labels (`production`, ...) naming a version."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import SpaceOwned
from agentdeck.models.base import Base, JSONType, SpaceColumn


class Prompt(SpaceColumn, SpaceOwned, Base):
    """A named prompt. ``labels`` maps a label to a version number; moving one is audited."""

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("space_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    latest_version: Mapped[int] = mapped_column(default=1)
    labels: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)


class PromptVersion(SpaceColumn, SpaceOwned, Base):
    """One immutable version: the template, an optional system message, and the JSON
    Schema of the variables the template reads."""

    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("prompt_id", "version"),)

    prompt_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("prompts.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    template: Mapped[str] = mapped_column(Text)
    system: Mapped[str | None] = mapped_column(Text, default=None)
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)

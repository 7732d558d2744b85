"""Spaces (a personal one per user per organisation, and shared ones) and their members."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import SpaceOwned
from agentdeck.models.base import Base, OrgColumn, SpaceColumn


class Space(OrgColumn, SpaceOwned, Base):
    __tablename__ = "spaces"
    __space_column__ = "id"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), default=None)
    is_personal: Mapped[bool] = mapped_column(default=False)
    personal_owner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), default=None
    )


class SpaceMember(SpaceColumn, SpaceOwned, Base):
    __tablename__ = "space_members"
    __table_args__ = (UniqueConstraint("space_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))

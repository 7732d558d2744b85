"""Organisations (tenants), their memberships and invitations."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import OrgOwned
from agentdeck.models.base import Base, OrgColumn


class Organization(Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), default=None)
    # Run quotas its owners set (None: only the operator's, AGENTDECK_RUNS__QUOTA_*).
    max_runs_in_flight: Mapped[int | None] = mapped_column(default=None)
    max_runs_per_minute: Mapped[int | None] = mapped_column(default=None)

    __org_key__ = "id"
    """The attribute holding the organisation id (`kit.org_cache` watches this row)."""


class OrgMembership(OrgColumn, OrgOwned, Base):
    __tablename__ = "org_memberships"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class Invitation(OrgColumn, OrgOwned, Base):
    __tablename__ = "invitations"

    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

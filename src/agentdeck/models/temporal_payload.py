"""Payloads of Temporal workflows stored outside their history (`agentdeck.temporal.payloads`)."""

from __future__ import annotations

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.models.base import Base


class TemporalPayload(Base):
    """One serialized Temporal payload over the size limit, keyed by its SHA-256 digest (the
    same bytes are stored once). The history holds only the reference. Not tenant-owned:
    only the Temporal workers read it, by digest; `workflow_id` (a run id) says whose it was
    first, for operators and clean-up."""

    __tablename__ = "temporal_payloads"

    digest: Mapped[str] = mapped_column(String(64), unique=True)
    workflow_id: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)

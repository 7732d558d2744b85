"""LLM providers of an organisation, with their credentials encrypted at rest."""

from __future__ import annotations

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import OrgOwned
from agentdeck.models.base import Base, JSONType, OrgColumn


class Provider(OrgColumn, OrgOwned, Base):
    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    api_key_enc: Mapped[str | None] = mapped_column(Text, default=None)
    api_key_hint: Mapped[str | None] = mapped_column(String(16), default=None)
    models: Mapped[list[str]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)

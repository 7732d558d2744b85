"""LLM gateway state per organisation: aliases, catalog overrides, usage, budgets, cache."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import OrgOwned
from agentdeck.models.base import Base, JSONType, OrgColumn


class ModelAlias(OrgColumn, OrgOwned, Base):
    """A name (`default`, `fast`, ...) for an ordered fallback chain of `provider/model`."""

    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    models: Mapped[list[str]] = mapped_column(JSONType)
    strategy: Mapped[str] = mapped_column(String(16), default="ordered")


class ModelOverride(OrgColumn, OrgOwned, Base):
    """Per-org catalog facts for a `provider/model` (prices of self-hosted models, ...)."""

    __tablename__ = "model_overrides"
    __table_args__ = (UniqueConstraint("org_id", "model"),)

    model: Mapped[str] = mapped_column(String(300))
    context_window: Mapped[int | None] = mapped_column(default=None)
    input_price_per_mtok: Mapped[float | None] = mapped_column(Float, default=None)
    output_price_per_mtok: Mapped[float | None] = mapped_column(Float, default=None)
    capabilities: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class UsageRecord(OrgColumn, OrgOwned, Base):
    """One gateway call (with its failed attempts inside ``attempts``)."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_org_created", "org_id", "created_at"),)

    space_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("spaces.id", ondelete="SET NULL"), default=None, index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    run_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    step_id: Mapped[str | None] = mapped_column(String(200), default=None)
    agent_id: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(16), default="chat")
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(300))
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cached_tokens: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, default=None)
    cache_hit: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)


class Budget(OrgColumn, OrgOwned, Base):
    """A monthly spending limit of the org (``scope_key='org'``) or of one space."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("org_id", "scope_key"),)

    scope_key: Mapped[str] = mapped_column(String(64))
    space_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("spaces.id", ondelete="CASCADE"), default=None
    )
    monthly_usd: Mapped[float] = mapped_column(Float)
    warn_at: Mapped[float] = mapped_column(Float, default=0.8)
    warned_period: Mapped[str | None] = mapped_column(String(7), default=None)


class LLMCacheEntry(OrgColumn, OrgOwned, Base):
    """An exact-match response cache entry, keyed per org."""

    __tablename__ = "llm_cache"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)

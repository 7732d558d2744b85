"""The LangGraph-shaped store: JSON items by (namespace, key), inside one space."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agentdeck.kit.tenancy import SpaceOwned
from agentdeck.models.base import Base, JSONType, SpaceColumn


class StoreItem(SpaceColumn, SpaceOwned, Base):
    """One item. ``namespace`` is the client's labels joined by ``.`` (labels never hold a
    dot), always read together with the org and space: no caller names another space's.

    ``embedding`` (normalised) is set when the item was put with ``index`` fields;
    ``ttl_minutes`` is kept so reads can refresh ``expires_at``.
    """

    __tablename__ = "store_items"
    __table_args__ = (UniqueConstraint("space_id", "namespace", "key"),)

    namespace: Mapped[str] = mapped_column(String(1000))
    key: Mapped[str] = mapped_column(String(500))
    value: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    index_fields: Mapped[list[str] | None] = mapped_column(JSONType, default=None)
    embedding: Mapped[list[float] | None] = mapped_column(JSONType, default=None)
    ttl_minutes: Mapped[float | None] = mapped_column(Float, default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)

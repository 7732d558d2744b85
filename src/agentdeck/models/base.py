"""Declarative base: naming convention, UUIDv7 ids, UTC timestamps on every table."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, MetaData, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from agentdeck.kit.db import UTCDateTime, utcnow
from agentdeck.kit.ids import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Every table: a time-sortable UUIDv7 ``id`` and ``created_at``/``updated_at``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSONType}

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid7)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=False)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OrgColumn:
    """Adds ``org_id`` (cascade on organisation delete)."""

    @declared_attr
    def org_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid(), ForeignKey("organizations.id", ondelete="CASCADE"), index=True)


class SpaceColumn(OrgColumn):
    """Adds ``org_id`` and ``space_id`` (cascade on space delete)."""

    @declared_attr
    def space_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid(), ForeignKey("spaces.id", ondelete="CASCADE"), index=True)

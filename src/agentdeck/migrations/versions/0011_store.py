"""store_items: the LangGraph-shaped store (JSON items by namespace and key, per space)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import agentdeck.kit.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "store_items",
        sa.Column("namespace", sa.String(length=1000), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("value", _JSON, nullable=False),
        sa.Column("index_fields", _JSON, nullable=True),
        sa.Column("embedding", _JSON, nullable=True),
        sa.Column("ttl_minutes", sa.Float(), nullable=True),
        sa.Column("expires_at", agentdeck.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", agentdeck.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentdeck.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_store_items_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_store_items_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_items")),
        sa.UniqueConstraint("space_id", "namespace", "key", name=op.f("uq_store_items_space_id")),
    )
    with op.batch_alter_table("store_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_store_items_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_store_items_space_id"), ["space_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_store_items_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("store_items")

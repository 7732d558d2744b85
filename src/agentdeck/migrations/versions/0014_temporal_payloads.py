"""temporal_payloads: Temporal payloads over the size limit, stored outside the history

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentdeck.kit.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "temporal_payloads",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", agentdeck.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentdeck.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_temporal_payloads")),
        sa.UniqueConstraint("digest", name=op.f("uq_temporal_payloads_digest")),
    )
    with op.batch_alter_table("temporal_payloads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_temporal_payloads_workflow_id"), ["workflow_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("temporal_payloads")

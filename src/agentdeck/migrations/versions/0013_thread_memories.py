"""thread_memories: the conversation and running summary of a thread's agents

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import agentdeck.kit.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "thread_memories",
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("messages", _JSON, nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("summarised", sa.Integer(), nullable=False),
        sa.Column("summary_turn", sa.String(length=300), nullable=True),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", agentdeck.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentdeck.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_thread_memories_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_thread_memories_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_memories_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_memories")),
        sa.UniqueConstraint("thread_id", name=op.f("uq_thread_memories_thread_id")),
    )
    with op.batch_alter_table("thread_memories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thread_memories_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_thread_memories_space_id"), ["space_id"], unique=False)


def downgrade() -> None:
    op.drop_table("thread_memories")

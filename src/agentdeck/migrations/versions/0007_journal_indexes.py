"""journal: drop run_id indexes the unique keys already cover

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (run_id, node_id, item_index, attempt) and (run_id, seq) lead with run_id; a separate
    # run_id index only costs a page write per journal commit.
    op.drop_index("ix_run_steps_run_id", table_name="run_steps")
    op.drop_index("ix_run_events_run_id", table_name="run_events")


def downgrade() -> None:
    op.create_index("ix_run_events_run_id", "run_events", ["run_id"], unique=False)
    op.create_index("ix_run_steps_run_id", "run_steps", ["run_id"], unique=False)

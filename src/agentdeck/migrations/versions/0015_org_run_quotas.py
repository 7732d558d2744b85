"""organizations.max_runs_in_flight, max_runs_per_minute: run quotas set by org owners

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.add_column(sa.Column("max_runs_in_flight", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_runs_per_minute", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.drop_column("max_runs_per_minute")
        batch_op.drop_column("max_runs_in_flight")

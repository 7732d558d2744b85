"""journal: no foreign key to organizations on run_steps and run_events

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("run_steps", "run_events")


def upgrade() -> None:
    # A journal row's organisation is its run's, and the run's key already cascades an
    # organisation's deletion to them; checking the organisation too cost a key lookup and a
    # share lock on one hot row per insert.
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_org_id_organizations", type_="foreignkey")


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                f"fk_{table}_org_id_organizations", "organizations", ["org_id"], ["id"],
                ondelete="CASCADE",
            )  # fmt: skip

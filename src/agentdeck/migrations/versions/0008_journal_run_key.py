"""journal: one composite foreign key (run_id, org_id) -> runs (id, org_id)

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
    # A journal row's organisation is its run's, enforced by one key check per insert
    # instead of two (run, organisation). Deleting an organisation deletes its runs, whose
    # rows follow. A unique index, not a constraint: SQLite adds it without a table rebuild.
    op.create_index("uq_runs_id_org_id", "runs", ["id", "org_id"], unique=True)
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_run_id_runs", type_="foreignkey")
            batch.drop_constraint(f"fk_{table}_org_id_organizations", type_="foreignkey")
            batch.create_foreign_key(
                f"fk_{table}_run_id_runs", "runs", ["run_id", "org_id"], ["id", "org_id"],
                ondelete="CASCADE",
            )  # fmt: skip


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_run_id_runs", type_="foreignkey")
            batch.create_foreign_key(
                f"fk_{table}_run_id_runs", "runs", ["run_id"], ["id"], ondelete="CASCADE"
            )
            batch.create_foreign_key(
                f"fk_{table}_org_id_organizations", "organizations", ["org_id"], ["id"],
                ondelete="CASCADE",
            )  # fmt: skip
    op.drop_index("uq_runs_id_org_id", table_name="runs")

"""User-declared capture times (``auditor scan --captured-at``) and entry points per run.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("captured_at_declared", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "entry_points",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("entry_points")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("captured_at_declared")

"""Initial history schema: runs, packs, control verdicts, zone counts, documents, period reports.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cluster", sa.String(253), nullable=False),
        sa.Column("captured_at", sa.String(20), nullable=False),
        sa.Column("snapshot_digest", sa.String(64), nullable=False),
        sa.Column("packs_digest", sa.String(64), nullable=False),
        sa.Column("tool_version", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.String(20), nullable=False),
        sa.UniqueConstraint("snapshot_digest", "packs_digest", name="uq_runs_snapshot_packs"),
    )
    op.create_index("ix_runs_cluster_captured", "runs", ["cluster", "captured_at"])
    op.create_table(
        "run_packs",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("pack", sa.String(253), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("framework", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
    )
    op.create_table(
        "control_results",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("pack", sa.String(253), primary_key=True),
        sa.Column("control", sa.String(253), primary_key=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("violations", sa.Integer, nullable=False),
        sa.Column("waived", sa.Integer, nullable=False),
        sa.Column("unknown", sa.Integer, nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("refs", sa.Text, nullable=False),
    )
    op.create_table(
        "zone_counts",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("pack", sa.String(253), primary_key=True),
        sa.Column("zone", sa.String(253), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("possible", sa.Integer, nullable=False),
        sa.Column("members_digest", sa.String(64), nullable=False),
        sa.Column("member_list", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "period_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cluster", sa.String(253), nullable=True),
        sa.Column("since", sa.String(20), nullable=False),
        sa.Column("until", sa.String(20), nullable=False),
        sa.Column("written_at", sa.String(20), nullable=False),
        sa.Column("hold", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("period_reports", "documents", "zone_counts", "control_results", "run_packs"):
        op.drop_table(table)
    op.drop_index("ix_runs_cluster_captured", table_name="runs")
    op.drop_table("runs")

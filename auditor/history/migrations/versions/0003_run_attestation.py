"""The attestation of a run (issue #17 §4): the digest of the signed in-toto statement that
names the run's result, its key id and signature algorithm; empty for unsigned runs.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("attestation_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("attestation_key_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("attestation_algorithm", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("attestation_algorithm")
        batch.drop_column("attestation_key_id")
        batch.drop_column("attestation_digest")

"""Usage-plan token buckets shared by every worker process.

Revision ID: data_0002
Revises: data_0001
Create Date: 2026-05-16

Written by hand against storage/models.py (`RateBucket`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "data_0002"
down_revision: str | Sequence[str] | None = "data_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_s", sa.Float(), nullable=False),
        sa.Column("rate_per_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_rate_buckets"),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")

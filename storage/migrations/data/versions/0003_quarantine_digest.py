"""Quarantine entries carry a keyed digest of their payload, so a repeat is not stored twice.

Revision ID: data_0003
Revises: data_0002
Create Date: 2026-11-22

Written by hand against storage/models.py (`QuarantineEntry.payload_digest`). Rows from before
have none and are never matched.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "data_0003"
down_revision: str | Sequence[str] | None = "data_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("payload_digest", sa.String(64), nullable=True))
        batch.create_index(
            "ix_quarantine_client_id_payload_digest", ["client_id", "payload_digest"]
        )


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_index("ix_quarantine_client_id_payload_digest")
        batch.drop_column("payload_digest")

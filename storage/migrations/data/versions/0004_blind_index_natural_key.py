"""The blind index is keyed by (order_id, kind, digest): its surrogate id and sequence go.

Revision ID: data_0004
Revises: data_0003
Create Date: 2026-11-22

Written by hand against storage/models.py (`BlindIndexEntry`). The unique constraint on
(order_id, kind, digest) becomes the primary key, so every existing row keeps its key; nothing
ever read `id`. The foreign key to orders, with its cascade, stays. The downgrade numbers the
rows again (in no particular order: the ids never meant anything).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "data_0004"
down_revision: str | Sequence[str] | None = "data_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NATURAL_KEY = ["order_id", "kind", "digest"]


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _is_sqlite():
        # SQLite cannot alter a primary key: batch mode copies the rows into a new table.
        with op.batch_alter_table("blind_index", recreate="always") as batch:
            batch.drop_constraint("uq_blind_index_order_id_kind_digest", type_="unique")
            batch.drop_column("id")
            batch.create_primary_key("pk_blind_index", _NATURAL_KEY)
        return
    op.drop_constraint("pk_blind_index", "blind_index", type_="primary")
    op.drop_constraint("uq_blind_index_order_id_kind_digest", "blind_index", type_="unique")
    op.drop_column("blind_index", "id")  # its sequence, owned by the column, goes with it
    op.create_primary_key("pk_blind_index", "blind_index", _NATURAL_KEY)


def downgrade() -> None:
    if _is_sqlite():
        # An INTEGER primary key is the rowid: the copied rows are numbered as they arrive.
        with op.batch_alter_table("blind_index", recreate="always") as batch:
            batch.drop_constraint("pk_blind_index", type_="primary")
            batch.add_column(sa.Column("id", sa.Integer(), nullable=False))
            batch.create_primary_key("pk_blind_index", ["id"])
            batch.create_unique_constraint("uq_blind_index_order_id_kind_digest", _NATURAL_KEY)
        return
    op.drop_constraint("pk_blind_index", "blind_index", type_="primary")
    # BIGSERIAL, as the first migration created it: a sequence numbers the existing rows.
    op.execute("ALTER TABLE blind_index ADD COLUMN id BIGSERIAL NOT NULL")
    op.create_primary_key("pk_blind_index", "blind_index", ["id"])
    op.create_unique_constraint("uq_blind_index_order_id_kind_digest", "blind_index", _NATURAL_KEY)

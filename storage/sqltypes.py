"""Column types and schema conventions shared by the data schema and the key-store schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from storage.errors import NaiveDatetimeError

# Stable constraint names: Alembic can then address (and batch-recreate) every constraint by
# name on both dialects, instead of relying on whatever name each database invents.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL; on SQLite only a column typed exactly INTEGER aliases the rowid and
# autoincrements, so the variant keeps it INTEGER there (SQLite integers are 64-bit anyway).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def ensure_utc(value: datetime) -> datetime:
    """Return `value` in UTC; refuse a naive datetime instead of guessing its zone."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError("timestamps must be timezone-aware (UTC); got a naive datetime")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that only ever holds aware UTC datetimes.

    PostgreSQL keeps the zone; SQLite drops tzinfo and would hand back naive values. Converting
    to UTC on the way in keeps SQLite's text comparisons ordered, and tagging UTC on the way out
    gives both dialects the same Python values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return ensure_utc(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

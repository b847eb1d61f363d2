"""A daily call budget per key (eBay's per-user Trading API allowance), shared by every worker.

Counts live in the `rate_buckets` table under `budget:<key>:<YYYY-MM-DD>` (`tokens` holds the
calls counted that day), so one atomic row update serves all processes. Rows of past days are
dropped as a new day starts.
"""

from __future__ import annotations

import time
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from storage.db import session_factory, write_session
from storage.models import RateBucket
from storage.statements import insert_on_conflict

__all__ = ["SqlCallBudget"]

_PREFIX = "budget:"


class SqlCallBudget:
    """`connectors.ebay.CallBudget` in the database (SQLite or PostgreSQL)."""

    def __init__(self, bind: sa.Engine | sessionmaker[Session]) -> None:
        self._sessions = session_factory(bind) if isinstance(bind, sa.Engine) else bind

    def take(self, key: str, day: date, limit: int) -> bool:
        """Count one call for `key` on `day` unless `limit` calls were counted already."""
        row_key = f"{_PREFIX}{key}:{day.isoformat()}"
        with write_session(self._sessions) as session:
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
            created = session.execute(
                insert_on_conflict(session, RateBucket)
                .values(key=row_key, tokens=0.0, updated_s=time.time(), rate_per_s=None)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(RateBucket.key)
            ).first()
            if created is not None:
                # A new day for this key: yesterday's counts are history.
                session.execute(
                    sa.delete(RateBucket).where(
                        RateBucket.key.like(f"{_PREFIX}{key}:%"), RateBucket.key != row_key
                    )
                )
            used = session.execute(
                sa.select(RateBucket.tokens).where(RateBucket.key == row_key).with_for_update()
            ).scalar_one()
            if used >= limit:
                return False
            session.execute(
                sa.update(RateBucket)
                .where(RateBucket.key == row_key)
                .values(tokens=used + 1, updated_s=time.time())
            )
            return True

    def used(self, key: str, day: date) -> int:
        with self._sessions() as session:
            value = session.scalar(
                sa.select(RateBucket.tokens).where(
                    RateBucket.key == f"{_PREFIX}{key}:{day.isoformat()}"
                )
            )
        return int(value or 0)

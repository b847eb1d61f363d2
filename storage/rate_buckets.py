"""Usage-plan token buckets in the data database, shared by every worker process.

`SqlBuckets` is the connectors' `BucketStore` (`connectors.ratelimit.base`) for deployments
without Redis: every worker that reaches the same database draws from the same bucket, so
together they never exceed one plan. It satisfies the protocol structurally, because storage
does not import connectors; `tests/storage/test_rate_buckets.py` checks that its arithmetic
and `connectors.ratelimit.take_from_bucket` give the same waits.

Each `take` is one short write transaction that locks the bucket's row from its first
statement: on PostgreSQL `INSERT ... ON CONFLICT DO NOTHING` creates a missing (full) bucket
and `SELECT ... FOR UPDATE` locks it; on SQLite `write_session` begins IMMEDIATE, which holds
the database's write lock instead. Two workers therefore cannot both take the last token, nor
lose a refill. Time comes from the caller's injected clock, as in the Redis store.
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from storage.db import session_factory, write_session
from storage.models import RateBucket
from storage.statements import insert_on_conflict

__all__ = ["SqlBuckets", "refill_and_take"]

# A bucket that `set_rate` created before any `take`: nobody has spent from it, so it is full.
# Any value at or above the capacity reads as full, because the refill caps tokens at the
# capacity, and the capacity is only known to `take`.
_FULL_TOKENS = 1e300


def refill_and_take(
    tokens: float, updated_s: float, rate_per_s: float, capacity: float, now_s: float
) -> tuple[float, float, float]:
    """One token-bucket step: (tokens after, new updated_s, seconds to wait or 0.0).

    The same rule as `connectors.ratelimit.take_from_bucket` (and the Redis store's script),
    which storage may not import: refill at `rate_per_s` since `updated_s`, never beyond
    `capacity`; a clock that went backwards refills nothing rather than draining the bucket;
    take one token if there is one, else report how long until there will be.
    """
    if now_s > updated_s:
        tokens = min(capacity, tokens + (now_s - updated_s) * rate_per_s)
        updated_s = now_s
    tokens = min(tokens, capacity)
    if tokens >= 1.0:
        return tokens - 1.0, updated_s, 0.0
    return tokens, updated_s, (1.0 - tokens) / rate_per_s


class SqlBuckets:
    """A `BucketStore` in the `rate_buckets` table (SQLite or PostgreSQL)."""

    def __init__(self, bind: sa.Engine | sessionmaker[Session]) -> None:
        self._sessions = session_factory(bind) if isinstance(bind, sa.Engine) else bind

    def take(self, key: str, default_rate_per_s: float, capacity: float, now_s: float) -> float:
        """Atomically refill the bucket to `now_s` and take one token; 0.0 or seconds to wait."""
        with write_session(self._sessions) as session:
            # A missing bucket starts full. DO NOTHING waits for a concurrent insert of the
            # same key to commit, so the SELECT below always finds the row.
            session.execute(
                insert_on_conflict(session, RateBucket)
                .values(key=key, tokens=capacity, updated_s=now_s, rate_per_s=None)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            # FOR UPDATE on PostgreSQL; SQLite renders none and relies on BEGIN IMMEDIATE.
            row = session.execute(
                sa.select(RateBucket.tokens, RateBucket.updated_s, RateBucket.rate_per_s)
                .where(RateBucket.key == key)
                .with_for_update()
            ).one()
            rate_per_s = default_rate_per_s if row.rate_per_s is None else row.rate_per_s
            tokens, updated_s, wait_s = refill_and_take(
                row.tokens, row.updated_s, rate_per_s, capacity, now_s
            )
            if (tokens, updated_s) != (row.tokens, row.updated_s):
                session.execute(
                    sa.update(RateBucket)
                    .where(RateBucket.key == key)
                    .values(tokens=tokens, updated_s=updated_s)
                )
            return wait_s

    def set_rate(self, key: str, rate_per_s: float) -> None:
        """Remember the rate the marketplace announced for `key`; later takes refill at it."""
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s!r}")
        with write_session(self._sessions) as session:
            session.execute(
                insert_on_conflict(session, RateBucket)
                .values(key=key, tokens=_FULL_TOKENS, updated_s=0.0, rate_per_s=rate_per_s)
                .on_conflict_do_update(index_elements=["key"], set_={"rate_per_s": rate_per_s})
            )

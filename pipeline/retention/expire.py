"""The expiry run: move data keys to their buckets, destroy every due bucket key, purge what it
protected, and drop order rows past the 18-month limit.

`run_expiry` is the whole job and depends on no broker: the CLI calls it, and an actor can wrap
it as it is. Each step is idempotent and commits on its own, so a run killed anywhere and run
again ends consistent (see `pipeline.retention.buckets`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from pipeline.retention.buckets import (
    BucketResult,
    destroy_key,
    pending_buckets,
    purge_bucket_rows,
)
from pipeline.retention.old_rows import OldRowsReport, purge_old_orders
from pipeline.retention.rebucket import EXPIRY_ACTOR, MoveReport, move_data_keys
from pipeline.runtime import Runtime
from storage.models import Order, QuarantineEntry

__all__ = ["BucketPlan", "ExpiryPlan", "ExpiryReport", "plan_expiry", "run_expiry"]


@dataclass(frozen=True)
class BucketPlan:
    """A due bucket before the run: what it still protects."""

    client_id: str
    day: date
    orders: int
    quarantined: int


@dataclass(frozen=True)
class ExpiryPlan:
    now: datetime
    buckets: list[BucketPlan]
    moves: MoveReport
    old_rows: OldRowsReport


@dataclass
class ExpiryReport:
    now: datetime
    moves: MoveReport
    buckets: list[BucketResult] = field(default_factory=list)
    old_rows: OldRowsReport | None = None

    @property
    def orders_shredded(self) -> int:
        return sum(b.orders for b in self.buckets) + self.moves.shredded


def _count_by_bucket(runtime: Runtime, through_day: date) -> dict[tuple[str, date], list[int]]:
    """(client, day) -> [orders, quarantine entries] still sealed under buckets due by then."""
    counts: dict[tuple[str, date], list[int]] = {}
    queries = [
        sa.select(Order.client_id, Order.bucket_day, sa.func.count())
        .where(Order.bucket_day <= through_day)
        .group_by(Order.client_id, Order.bucket_day),
        sa.select(QuarantineEntry.client_id, QuarantineEntry.bucket_day, sa.func.count())
        .where(QuarantineEntry.bucket_day <= through_day)
        .group_by(QuarantineEntry.client_id, QuarantineEntry.bucket_day),
    ]
    with runtime.sessions() as session:
        for index, query in enumerate(queries):
            for client_id, day, count in session.execute(query):
                if day is not None:
                    counts.setdefault((client_id, day), [0, 0])[index] = int(count)
    return counts


def plan_expiry(runtime: Runtime, now: datetime) -> ExpiryPlan:
    """What `run_expiry(runtime, now)` would do, changing nothing (--dry-run)."""
    today = now.date()
    counts = _count_by_bucket(runtime, today)
    buckets = [
        BucketPlan(client_id, day, *counts.get((client_id, day), [0, 0]))
        for client_id, day in pending_buckets(runtime, through_day=today)
    ]
    return ExpiryPlan(
        now=now,
        buckets=buckets,
        moves=move_data_keys(runtime, now, dry_run=True),
        old_rows=purge_old_orders(runtime, now, actor=EXPIRY_ACTOR, dry_run=True),
    )


def run_expiry(
    runtime: Runtime,
    now: datetime | None = None,
    *,
    on_start: Callable[[int], None] | None = None,
    on_bucket: Callable[[BucketResult], None] | None = None,
) -> ExpiryReport:
    """Run the expiry job at `now` (default: the runtime's clock).

    1. Move data keys whose bucket is not their expiry day (delivery, undelivered extension),
       shredding orders whose day has come; this runs first so that an undelivered order
       leaves tomorrow's bucket before that bucket dies.
    2. For every bucket whose day has begun (a bucket is due at 00:00 UTC of its day): destroy
       its key, then purge its orders' ciphertext, wrapped keys and blind-index rows and its
       quarantine entries, and audit one `shred` event. `on_start(n)` is told how many
       buckets, `on_bucket` each result as it commits.
    3. Delete shredded order rows purchased more than 18 months ago (DPP 1.7).
    """
    now = runtime.clock() if now is None else now
    report = ExpiryReport(now=now, moves=move_data_keys(runtime, now))
    due = pending_buckets(runtime, through_day=now.date())
    if on_start is not None:
        on_start(len(due))
    for client_id, day in due:
        client = runtime.config.clients.get(client_id)
        tombstone = destroy_key(runtime, client_id, day, now)
        result = purge_bucket_rows(
            runtime,
            tombstone,
            now=now,
            actor=EXPIRY_ACTOR,
            max_undelivered_days=None if client is None else client.retention.max_undelivered_days,
        )
        report.buckets.append(result)
        if on_bucket is not None:
            on_bucket(result)
    report.old_rows = purge_old_orders(runtime, now, actor=EXPIRY_ACTOR)
    return report

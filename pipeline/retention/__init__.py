"""Retention: crypto-shredding on schedule, data keys kept in the right bucket, off-boarding.

Public API::

    run_expiry(runtime, now=None, *, on_start=None, on_bucket=None) -> ExpiryReport
    plan_expiry(runtime, now) -> ExpiryPlan                     # what a run would do
    rewrap_to_expiry(runtime, client, order_id, *, now=None) -> MoveOutcome
    move_data_keys(runtime, now, *, dry_run=False) -> MoveReport
    planned_day(order, client, now) -> (day, shred reason or None)
    offboard_client(runtime, client_id, *, now, actor) -> OffboardReport
    purge_old_orders(runtime, now, *, actor, dry_run=False) -> OldRowsReport

Steps, for callers that run them one by one (tests of a crash between them)::

    pending_buckets(runtime, *, through_day, client_id=None) -> [(client, day)]
    destroy_key(runtime, client, day, now) -> BucketTombstone
    purge_bucket_rows(runtime, tombstone, *, now, actor, reason="retention",
                      max_undelivered_days=None) -> BucketResult
"""

from pipeline.retention.buckets import (
    BucketResult,
    destroy_key,
    pending_buckets,
    purge_bucket_rows,
)
from pipeline.retention.expire import (
    BucketPlan,
    ExpiryPlan,
    ExpiryReport,
    plan_expiry,
    run_expiry,
)
from pipeline.retention.offboard import OffboardReport, offboard_client
from pipeline.retention.old_rows import OldRowsReport, non_pii_cutoff, purge_old_orders
from pipeline.retention.rebucket import (
    EXPIRY_ACTOR,
    MoveOutcome,
    MoveReport,
    OrderTiming,
    move_data_keys,
    planned_day,
    rewrap_to_expiry,
)

__all__ = [
    "EXPIRY_ACTOR",
    "BucketPlan",
    "BucketResult",
    "ExpiryPlan",
    "ExpiryReport",
    "MoveOutcome",
    "MoveReport",
    "OffboardReport",
    "OldRowsReport",
    "OrderTiming",
    "destroy_key",
    "move_data_keys",
    "non_pii_cutoff",
    "offboard_client",
    "pending_buckets",
    "plan_expiry",
    "planned_day",
    "purge_bucket_rows",
    "purge_old_orders",
    "rewrap_to_expiry",
    "run_expiry",
]

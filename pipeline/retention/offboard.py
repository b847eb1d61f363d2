"""Client off-boarding (DPP 1.7): destroy all of a client's bucket keys and purge its PII.

Every bucket the client has, past or future, is destroyed (a day without a key is closed with a
tombstone, so nothing can be sealed there later) and purged as the expiry run would, with the
reason "offboarded". Its clear order rows stay until the 18-month limit removes them.

The client's blind-index key is destroyed too, after its blind-index rows went with the orders,
so no digest of its buyers can be recomputed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from pipeline.retention.buckets import (
    BucketResult,
    destroy_key,
    pending_buckets,
    purge_bucket_rows,
)
from pipeline.runtime import Runtime
from storage import audit, write_session

__all__ = ["OffboardReport", "offboard_client"]

OFFBOARD_REASON = "offboarded"
# A client id as the config allows it (`pipeline.clients.Name`).
_CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass
class OffboardReport:
    client_id: str
    buckets: list[BucketResult] = field(default_factory=list)
    index_key_destroyed: bool = False
    index_key_exists: bool = False

    @property
    def orders_shredded(self) -> int:
        return sum(b.orders for b in self.buckets)


def offboard_client(
    runtime: Runtime, client_id: str, *, now: datetime, actor: str
) -> OffboardReport:
    """Destroy every bucket key of `client_id` and purge its PII; audited. Idempotent."""
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValueError("not a client id: lower-case letters, digits, '-' and '_', 1-64 chars")
    report = OffboardReport(client_id=client_id)
    for _client, day in pending_buckets(runtime, through_day=date.max, client_id=client_id):
        tombstone = destroy_key(runtime, client_id, day, now)
        report.buckets.append(
            purge_bucket_rows(runtime, tombstone, now=now, actor=actor, reason=OFFBOARD_REASON)
        )
    report.index_key_exists = runtime.keystore.index_key(client_id) is not None
    report.index_key_destroyed = runtime.vault.destroy_index_key(client_id)
    with write_session(runtime.sessions) as session:
        audit.append(
            session,
            actor=actor,
            action="offboard",
            client_id=client_id,
            subject={"client_id": client_id},
            details={
                "buckets_destroyed": len(report.buckets),
                "orders_shredded": report.orders_shredded,
                "quarantined_purged": sum(b.quarantined for b in report.buckets),
                "index_key_destroyed": report.index_key_destroyed,
            },
            now=now,
        )
    return report

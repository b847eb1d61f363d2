"""A deployment with a known history: delivered long ago and shredded, erased, decrypted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from connectors.order import Buyer, OrderStatus
from pipeline.access import Purpose, open_order
from pipeline.dsar import IdentifierKind, Subject, erase
from pipeline.retention import run_expiry
from tests.fixtures.runtime import Deployment
from tests.retention.helpers import day_start, store, store_delivered

SUBJECT_EMAIL = "report.subject.zqxjw@example.invalid"
REPORT_NOW = day_start(2026, 10, 5, hour=12)


@dataclass(frozen=True)
class History:
    shredded: list[int]  # bucket 2026-10-01, destroyed by the expiry run of 2026-10-02
    erased: list[int]
    living: list[int]  # still readable at REPORT_NOW
    destroyed_day: date


def build_history(deployment: Deployment) -> History:
    clock = deployment.clock
    clock.now = day_start(2026, 9, 1, hour=12)
    shredded = [
        store_delivered(deployment, f"100{n:04d}", day_start(2026, 9, 1, 8)) for n in range(4)
    ]
    b = [store_delivered(deployment, f"200{n:04d}", day_start(2026, 9, 10, 12)) for n in range(3)]
    c = [store_delivered(deployment, f"300{n:04d}", day_start(2026, 9, 20, 12)) for n in range(2)]
    delivered = day_start(2026, 9, 10, 12)
    erased_id = store(
        deployment,
        "4000000",
        buyer=Buyer(name="Report Subject", email=SUBJECT_EMAIL),
        status=OrderStatus.DELIVERED,
        purchased_at=delivered - timedelta(days=3),
        updated_at=delivered,
        latest_delivery_by=delivered,
        delivered_at=delivered,
    )
    clock.now = day_start(2026, 9, 25, hour=9)
    report = erase(
        deployment.runtime, "acme", Subject(IdentifierKind.EMAIL, SUBJECT_EMAIL), operator="alice"
    )
    assert report.order_ids == [erased_id]
    for order_id in c:
        open_order(deployment.runtime, order_id, purpose=Purpose.SUPPORT, actor="operator:bob")
    open_order(deployment.runtime, b[0], purpose=Purpose.FORWARD, actor="worker")
    clock.now = day_start(2026, 10, 2)
    expiry = run_expiry(deployment.runtime)
    assert [(r.day, r.orders) for r in expiry.buckets] == [(date(2026, 10, 1), 4)]
    clock.now = REPORT_NOW
    return History(
        shredded=shredded,
        erased=[erased_id],
        living=[*b, *c],
        destroyed_day=date(2026, 10, 1),
    )

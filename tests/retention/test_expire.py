"""The expiry run: due buckets die at the start of their day, in every copy, crash or not."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from crypto import DecryptError, PiiVault, RecordRef, load_local_root_keyring
from pipeline.report import Scope, compute_report
from pipeline.retention import expire as expire_module
from pipeline.retention import run_expiry
from storage import quarantine, write_session
from storage.models import Delivery, Order, QuarantineEntry
from tests.fixtures.runtime import Deployment
from tests.retention.helpers import (
    audit_events,
    day_start,
    order_row,
    readable,
    store,
    store_delivered,
)


def test_each_day_exactly_the_due_orders_are_unreadable(deployment: Deployment) -> None:
    # Delivered on ten different days (at various hours), 30-day retention.
    orders: dict[int, date] = {}
    for n in range(10):
        delivered = day_start(2026, 9, 3 + 3 * n, hour=(7 * n) % 24)
        order_id = store_delivered(deployment, f"{n:07d}", delivered)
        orders[order_id] = (delivered + timedelta(days=30)).date()
        assert order_row(deployment, order_id).bucket_day == orders[order_id]

    first, last = min(orders.values()), max(orders.values())
    day = first - timedelta(days=1)
    while day <= last + timedelta(days=1):
        # A bucket is due at the start of its day: run at 00:00 UTC.
        deployment.clock.now = day_start(day.year, day.month, day.day)
        report = run_expiry(deployment.runtime)
        assert sorted(b.day for b in report.buckets) == sorted(
            {d for d in orders.values() if d == day}
        )
        for order_id, expires_on in orders.items():
            due = expires_on <= day
            assert readable(deployment, order_id) is not due, (order_id, expires_on, day)
            row = order_row(deployment, order_id)
            assert (row.pii_ciphertext is None) is due
            assert (row.wrapped_data_key is None) is due
            assert row.shred_reason == ("retention" if due else None)
        evidence = compute_report(deployment.runtime, Scope.make(deployment.clock.now))
        assert evidence.retention.overdue_readable == 0
        day += timedelta(days=1)
    assert deployment.runtime.vault.key_status("acme").active_buckets == 0


def test_a_copy_taken_before_expiry_cannot_be_opened_after(deployment: Deployment) -> None:
    dying = [store_delivered(deployment, f"1{n:06d}", day_start(2026, 9, 10, 8)) for n in range(3)]
    living = store_delivered(deployment, "2000000", day_start(2026, 9, 20, 8))
    backup = []
    for order_id in [*dying, living]:
        row = order_row(deployment, order_id)
        assert row.pii_ciphertext is not None
        assert row.wrapped_data_key is not None
        ref = RecordRef(row.client_id, row.marketplace, row.marketplace_order_id, 1)
        backup.append((order_id, ref, row.pii_ciphertext, row.wrapped_data_key))

    before = deployment.clock.now.timestamp()
    deployment.clock.now = day_start(2026, 10, 10)
    report = run_expiry(deployment.runtime)
    assert [(b.day, b.orders) for b in report.buckets] == [(date(2026, 10, 10), 3)]

    # A fresh process whose clock still says "before": only the key's destruction can stop it.
    key_file = deployment.config.settings.kms.key_file
    restored = PiiVault(
        load_local_root_keyring(key_file), deployment.runtime.keystore, clock_s=lambda: before
    )
    for order_id, ref, ciphertext, wrapped_key in backup:
        if order_id == living:
            assert restored.open(ref, ciphertext, wrapped_key)
        else:
            with pytest.raises(DecryptError):
                restored.open(ref, ciphertext, wrapped_key)


def _quarantine(deployment: Deployment, day: date) -> int:
    ref = RecordRef("acme", "quarantine", "q-1", 1)
    sealed = deployment.runtime.vault.seal(ref, b'{"raw": "synthetic"}', day)
    with write_session(deployment.runtime.sessions) as session:
        return quarantine.add_quarantined(
            session,
            client_id="acme",
            marketplace="amazon",
            account="acme-eu",
            marketplace_order_id=None,
            reason="invalid",
            field="buyer.email",
            sealed_payload=sealed.ciphertext,
            wrapped_data_key=sealed.wrapped_key,
            bucket_day=day,
            now=deployment.clock.now,
        )


def test_killed_between_key_destruction_and_purge_then_rerun_is_consistent(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    due_day = date(2026, 10, 12)
    ids = [store_delivered(deployment, f"3{n:06d}", day_start(2026, 9, 12, 9)) for n in range(3)]
    _quarantine(deployment, due_day)
    later = store_delivered(deployment, "4000000", day_start(2026, 9, 25, 9))
    deployment.clock.now = day_start(2026, 10, 12, 1)

    def killed(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(expire_module, "purge_bucket_rows", killed)
    with pytest.raises(RuntimeError, match="killed"):
        run_expiry(deployment.runtime)
    monkeypatch.undo()

    # The key is gone, the rows are not purged yet, and nothing claims they were.
    assert deployment.runtime.vault.buckets_due(due_day) == []
    assert all(order_row(deployment, i).pii_ciphertext is not None for i in ids)
    assert audit_events(deployment, "shred") == []

    report = run_expiry(deployment.runtime)
    assert [(b.client_id, b.day, b.orders, b.quarantined) for b in report.buckets] == [
        ("acme", due_day, 3, 1)
    ]
    for order_id in ids:
        row = order_row(deployment, order_id)
        assert (row.pii_ciphertext, row.wrapped_data_key, row.bucket_day) == (None, None, None)
        assert not readable(deployment, order_id)
    assert readable(deployment, later)
    with deployment.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(QuarantineEntry)) == 0
    (event,) = audit_events(deployment, "shred")
    stored = deployment.runtime.keystore.bucket_for_day("acme", due_day)
    assert stored is not None
    assert stored.wrapped_key is None
    assert event.subject == {"bucket_day": "2026-10-12", "key_id": stored.key_id}
    assert event.details["key_commitment"] == stored.commitment
    assert event.details["orders"] == 3

    # Run again: nothing left to do, nothing audited twice.
    assert run_expiry(deployment.runtime).buckets == []
    assert len(audit_events(deployment, "shred")) == 1


def test_a_row_committed_into_a_dying_bucket_after_its_purge_is_purged_next_run(
    deployment: Deployment,
) -> None:
    order_id = store_delivered(deployment, "5000000", day_start(2026, 9, 14, 9))
    row = order_row(deployment, order_id)
    deployment.clock.now = day_start(2026, 10, 14)
    run_expiry(deployment.runtime)
    # Simulate an ingest that sealed before midnight and committed after the purge.
    with write_session(deployment.runtime.sessions) as session:
        session.execute(
            sa.update(Order)
            .where(Order.id == order_id)
            .values(
                pii_ciphertext=row.pii_ciphertext,
                wrapped_data_key=row.wrapped_data_key,
                bucket_day=row.bucket_day,
                shredded_at=None,
                shred_reason=None,
            )
        )
    assert not readable(deployment, order_id)  # the key is dead either way
    report = run_expiry(deployment.runtime)
    assert [(b.day, b.orders) for b in report.buckets] == [(date(2026, 10, 14), 1)]
    assert order_row(deployment, order_id).pii_ciphertext is None


def test_non_pii_rows_are_deleted_18_months_after_purchase(deployment: Deployment) -> None:
    old = store_delivered(deployment, "6000000", day_start(2026, 9, 14, 9))  # bought 09-11
    kept = store_delivered(deployment, "6000001", day_start(2026, 9, 20, 9))  # bought 09-17
    with deployment.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 2

    deployment.clock.now = day_start(2028, 3, 12)  # cutoff 2026-09-12
    report = run_expiry(deployment.runtime)
    assert report.old_rows is not None
    assert report.old_rows.deleted == 1
    with deployment.runtime.sessions() as session:
        assert session.get(Order, old) is None
        assert session.get(Order, kept) is not None
        remaining = session.scalars(sa.select(Delivery.order_id)).all()
    assert remaining == [kept]
    (event,) = audit_events(deployment, "purge_non_pii")
    assert event.details == {"orders": 1}


def test_an_empty_run_changes_nothing(deployment: Deployment) -> None:
    order_id = store(deployment, "7000000")
    report = run_expiry(deployment.runtime)
    assert report.buckets == []
    assert report.moves.moved == 0
    assert readable(deployment, order_id)

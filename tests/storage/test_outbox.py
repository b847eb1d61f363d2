"""The outbox: leases that never hand a row to two workers, outcomes, sweep, replay."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from storage import orders, outbox
from storage.db import write_session
from storage.models import Delivery
from tests.fixtures.databases import MigratedDatabase
from tests.storage.concurrency import run_concurrently
from tests.storage.factories import NOW, order_record

LEASE_S = 300


def _orders_with_deliveries(
    db: MigratedDatabase,
    count: int,
    destinations: tuple[str, ...] = ("erp",),
    *,
    client: str = "acme",
) -> list[int]:
    """Store `count` orders, each created at NOW + n seconds; return the delivery ids."""
    ids: list[int] = []
    with write_session(db.sessions) as session:
        for n in range(count):
            record = order_record(client_id=client, marketplace_order_id=f"{client}-{n}")
            result = orders.upsert_order(session, record, destinations, NOW + timedelta(seconds=n))
            ids.extend(result.delivery_ids)
    return ids


def _status(db: MigratedDatabase, delivery_id: int) -> Delivery:
    with db.sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery


def test_idempotency_key_known_answer() -> None:
    assert outbox.delivery_idempotency_key("acme", "amazon", "302-0000001-0000001", 1, "erp") == (
        "c98a5f2f9a3e4a13a433fb17a23e7cd92fc165e14e537b2a34215c44ed357739"
    )
    with pytest.raises(ValueError, match="NUL"):
        outbox.delivery_idempotency_key("acme\x00x", "amazon", "1", 1, "erp")


def test_claim_leases_due_rows_oldest_first(data_db: MigratedDatabase) -> None:
    ids = _orders_with_deliveries(data_db, 3)
    now = NOW + timedelta(seconds=10)

    claimed = outbox.claim(data_db.sessions, now=now, lease_s=LEASE_S, worker_id="w1", limit=2)

    assert [c.id for c in claimed] == ids[:2]
    assert all(c.attempts == 1 and c.leased_by == "w1" for c in claimed)
    assert claimed[0].lease_until == now + timedelta(seconds=LEASE_S)
    assert claimed[0].idempotency_key == outbox.delivery_idempotency_key(
        "acme", "amazon", "acme-0", 1, "erp"
    )
    row = _status(data_db, ids[0])
    assert (row.status, row.leased_by, row.lease_until, row.attempts) == (
        "sending",
        "w1",
        now + timedelta(seconds=LEASE_S),
        1,
    )
    rest = outbox.claim(data_db.sessions, now=now, lease_s=LEASE_S, worker_id="w2", limit=10)
    assert [c.id for c in rest] == ids[2:]


def test_rows_not_yet_due_are_not_claimed(data_db: MigratedDatabase) -> None:
    ids = _orders_with_deliveries(data_db, 2)  # due at NOW and NOW + 1 s
    claimed = outbox.claim(data_db.sessions, now=NOW, lease_s=LEASE_S, worker_id="w", limit=10)
    assert [c.id for c in claimed] == ids[:1]


def test_a_held_lease_is_not_claimed_again_but_an_expired_one_is(
    data_db: MigratedDatabase,
) -> None:
    (delivery_id,) = _orders_with_deliveries(data_db, 1)
    outbox.claim(data_db.sessions, now=NOW, lease_s=LEASE_S, worker_id="w1", limit=10)

    during = NOW + timedelta(seconds=LEASE_S - 1)
    assert (
        outbox.claim(data_db.sessions, now=during, lease_s=LEASE_S, worker_id="w2", limit=10) == []
    )

    after = NOW + timedelta(seconds=LEASE_S)
    (again,) = outbox.claim(data_db.sessions, now=after, lease_s=LEASE_S, worker_id="w2", limit=10)
    assert (again.id, again.attempts, again.leased_by) == (delivery_id, 2, "w2")


def test_claim_can_target_given_ids(data_db: MigratedDatabase) -> None:
    ids = _orders_with_deliveries(data_db, 4)
    later = NOW + timedelta(minutes=1)
    claimed = outbox.claim(
        data_db.sessions,
        now=later,
        lease_s=LEASE_S,
        worker_id="w",
        limit=10,
        delivery_ids=[ids[3], ids[1]],
    )
    assert [c.id for c in claimed] == [ids[1], ids[3]]
    assert (
        outbox.claim(
            data_db.sessions,
            now=later,
            lease_s=LEASE_S,
            worker_id="w",
            limit=10,
            delivery_ids=[ids[1]],
        )
        == []
    )


def test_claim_inside_the_callers_transaction_rolls_back_with_it(
    data_db: MigratedDatabase,
) -> None:
    _orders_with_deliveries(data_db, 1)
    with write_session(data_db.sessions) as session:
        assert len(outbox.claim(session, now=NOW, lease_s=LEASE_S, worker_id="w", limit=5)) == 1
        session.rollback()
    assert (
        len(outbox.claim(data_db.sessions, now=NOW, lease_s=LEASE_S, worker_id="w", limit=5)) == 1
    )


def test_mark_delivered_is_final(data_db: MigratedDatabase) -> None:
    (delivery_id,) = _orders_with_deliveries(data_db, 1)
    outbox.claim(data_db.sessions, now=NOW, lease_s=LEASE_S, worker_id="w1", limit=1)
    done_at = NOW + timedelta(seconds=5)
    with data_db.sessions.begin() as session:
        assert outbox.mark_delivered(session, delivery_id, now=done_at)
        assert not outbox.mark_delivered(session, delivery_id, now=done_at)
    row = _status(data_db, delivery_id)
    assert (row.status, row.delivered_at, row.lease_until, row.leased_by) == (
        "delivered",
        done_at,
        None,
        None,
    )
    far_later = NOW + timedelta(days=30)
    assert outbox.claim(data_db.sessions, now=far_later, lease_s=1, worker_id="w", limit=9) == []


def test_mark_failed_schedules_a_retry_and_only_the_lease_holder_may(
    data_db: MigratedDatabase,
) -> None:
    (delivery_id,) = _orders_with_deliveries(data_db, 1)
    outbox.claim(data_db.sessions, now=NOW, lease_s=LEASE_S, worker_id="w1", limit=1)
    retry_at = NOW + timedelta(minutes=10)
    with data_db.sessions.begin() as session:
        assert not outbox.mark_failed(
            session, delivery_id, worker_id="w2", error="timeout", retry_at=retry_at
        )
        assert outbox.mark_failed(
            session, delivery_id, worker_id="w1", error="HTTP 503 " + "x" * 900, retry_at=retry_at
        )
    row = _status(data_db, delivery_id)
    assert (row.status, row.next_attempt_at, row.leased_by) == ("failed", retry_at, None)
    assert row.last_error is not None
    assert row.last_error.startswith("HTTP 503 ")
    assert len(row.last_error) == outbox.LAST_ERROR_MAX_CHARS

    early = retry_at - timedelta(seconds=1)
    assert outbox.claim(data_db.sessions, now=early, lease_s=LEASE_S, worker_id="w", limit=1) == []
    (retry,) = outbox.claim(
        data_db.sessions, now=retry_at, lease_s=LEASE_S, worker_id="w3", limit=1
    )
    assert (retry.id, retry.attempts) == (delivery_id, 2)


def test_mark_failed_without_retry_is_dead_and_never_claimed(data_db: MigratedDatabase) -> None:
    (delivery_id,) = _orders_with_deliveries(data_db, 1)
    outbox.claim(data_db.sessions, now=NOW, lease_s=LEASE_S, worker_id="w1", limit=1)
    with data_db.sessions.begin() as session:
        assert outbox.mark_failed(session, delivery_id, worker_id="w1", error="410", retry_at=None)
    assert _status(data_db, delivery_id).status == "dead"
    far_later = NOW + timedelta(days=30)
    assert outbox.claim(data_db.sessions, now=far_later, lease_s=1, worker_id="w", limit=9) == []


def test_due_for_sweep_finds_rows_claimable_for_too_long(data_db: MigratedDatabase) -> None:
    ids = _orders_with_deliveries(data_db, 3)  # pending, due at NOW, NOW+1 s, NOW+2 s
    outbox.claim(
        data_db.sessions, now=NOW, lease_s=10, worker_id="w", limit=1
    )  # ids[0]: lease to NOW+10
    with data_db.sessions.begin() as session:
        session.execute(sa.update(Delivery).where(Delivery.id == ids[2]).values(status="delivered"))

    with data_db.sessions() as session:
        soon = outbox.due_for_sweep(session, now=NOW + timedelta(seconds=60), lost_after_s=60)
        later = outbox.due_for_sweep(session, now=NOW + timedelta(seconds=70), lost_after_s=60)
    assert soon == []
    # ids[1] has been pending for 69 s; ids[0]'s lease expired 60 s ago; ids[2] is done.
    assert later == [ids[0], ids[1]]


def test_requeue_puts_chosen_rows_back_to_pending(data_db: MigratedDatabase) -> None:
    acme = _orders_with_deliveries(data_db, 3)
    globex = _orders_with_deliveries(data_db, 1, client="globex")
    with data_db.sessions.begin() as session:
        session.execute(
            sa.update(Delivery).where(Delivery.id.in_(acme[:2] + globex)).values(status="dead")
        )
        session.execute(
            sa.update(Delivery).where(Delivery.id == acme[2]).values(status="delivered")
        )

    replay_at = NOW + timedelta(days=1)
    with data_db.sessions.begin() as session:
        requeued = outbox.requeue(session, now=replay_at, statuses=["dead"], client_id="acme")
        with pytest.raises(ValueError, match="sending"):
            outbox.requeue(session, now=replay_at, statuses=["sending"])
    assert requeued == acme[:2]
    assert [_status(data_db, i).status for i in acme + globex] == [
        "pending",
        "pending",
        "delivered",
        "dead",
    ]
    assert _status(data_db, acme[0]).next_attempt_at == replay_at


def test_counts_by_status_lists_every_status(data_db: MigratedDatabase) -> None:
    _orders_with_deliveries(data_db, 3, ("erp", "wms"))
    _orders_with_deliveries(data_db, 1, client="globex")
    outbox.claim(data_db.sessions, now=NOW, lease_s=LEASE_S, worker_id="w", limit=1)
    with data_db.sessions() as session:
        acme = outbox.counts_by_status(session, client_id="acme")
        everyone = outbox.counts_by_status(session)
    assert acme == {
        "pending": 5,
        "sending": 1,
        "delivered": 0,
        "failed": 0,
        "dead": 0,
        "superseded": 0,
    }
    assert everyone["pending"] == 6


def test_concurrent_workers_never_claim_the_same_row(data_db: MigratedDatabase) -> None:
    ids = _orders_with_deliveries(data_db, 40, ("erp", "wms"))
    now = NOW + timedelta(minutes=5)

    def worker(index: int) -> list[int]:
        mine: list[int] = []
        while batch := outbox.claim(
            data_db.sessions, now=now, lease_s=LEASE_S, worker_id=f"w{index}", limit=3
        ):
            mine.extend(c.id for c in batch)
        return mine

    per_worker = run_concurrently(worker, 4)

    claimed = Counter(i for mine in per_worker for i in mine)
    assert [i for i, n in claimed.items() if n > 1] == []
    assert sorted(claimed) == sorted(ids)
    with data_db.sessions() as session:
        attempts = set(session.scalars(sa.select(Delivery.attempts)))
    assert attempts == {1}

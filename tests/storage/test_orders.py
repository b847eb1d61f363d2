"""Order upsert: idempotence, versions, outbox rows, blind index, shredding, re-wrapping."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from storage import OrderShreddedError, orders
from storage.db import write_session
from storage.errors import NaiveDatetimeError
from storage.models import BlindIndexEntry, Delivery, Order
from storage.outbox import delivery_idempotency_key
from tests.fixtures.databases import MigratedDatabase
from tests.storage.concurrency import run_concurrently
from tests.storage.factories import NOW, digest, order_record

LATER = NOW + timedelta(hours=1)


def _deliveries(db: MigratedDatabase) -> list[Delivery]:
    with db.sessions() as session:
        return list(session.scalars(sa.select(Delivery).order_by(Delivery.id)))


def _blind_index(db: MigratedDatabase, order_id: int) -> set[tuple[str, str]]:
    with db.sessions() as session:
        rows = session.execute(
            sa.select(BlindIndexEntry.kind, BlindIndexEntry.digest).where(
                BlindIndexEntry.order_id == order_id
            )
        )
        return {(row.kind, row.digest) for row in rows}


def _upsert(
    db: MigratedDatabase,
    record: orders.OrderRecord,
    destinations: Sequence[str] = ("erp",),
    now: datetime = NOW,
) -> orders.UpsertResult:
    with write_session(db.sessions) as session:
        return orders.upsert_order(session, record, destinations, now)


def test_first_upsert_stores_version_1_and_one_outbox_row_per_destination(
    data_db: MigratedDatabase,
) -> None:
    record = order_record()
    result = _upsert(data_db, record, ["erp", "wms", "erp"])

    assert result.outcome == "created"
    assert result.version == 1
    assert len(result.delivery_ids) == 2
    with data_db.sessions() as session:
        order = orders.get_order(session, result.order_id)
        assert order is not None
        assert (order.client_id, order.marketplace_order_id) == ("acme", "302-0000001-0000001")
        assert order.pii_ciphertext == b"\x01sealed-pii"
        assert order.clear == record.clear
        assert order.purchased_at == record.purchased_at
        assert order.purchased_at.utcoffset() == timedelta(0)
        assert order.first_stored_at == order.last_stored_at == NOW
        assert order.bucket_day == date(2026, 4, 5)
        assert order.shredded_at is None
    deliveries = _deliveries(data_db)
    assert [d.id for d in deliveries] == list(result.delivery_ids)
    assert [(d.destination, d.status, d.order_version, d.attempts) for d in deliveries] == [
        ("erp", "pending", 1, 0),
        ("wms", "pending", 1, 0),
    ]
    assert deliveries[0].idempotency_key == delivery_idempotency_key(
        "acme", "amazon", "302-0000001-0000001", 1, "erp"
    )
    assert all(d.next_attempt_at == NOW for d in deliveries)
    assert _blind_index(data_db, result.order_id) == set(record.blind_index)


def test_unchanged_digest_writes_nothing(data_db: MigratedDatabase) -> None:
    first = _upsert(data_db, order_record())
    # Same digest, different sealed bytes (a re-seal of the same payload): still a no-op.
    again = _upsert(data_db, order_record(pii_ciphertext=b"other", status="Shipped"), now=LATER)

    assert again.outcome == "unchanged"
    assert (again.order_id, again.version, again.delivery_ids) == (first.order_id, 1, ())
    assert len(_deliveries(data_db)) == 1
    with data_db.sessions() as session:
        order = orders.get_order(session, first.order_id)
        assert order is not None
        assert (order.pii_ciphertext, order.status, order.last_stored_at) == (
            b"\x01sealed-pii",
            "Unshipped",
            NOW,
        )


def test_order_state_reports_what_the_caller_needs_to_skip_sealing(
    data_db: MigratedDatabase,
) -> None:
    with data_db.sessions() as session:
        assert orders.order_state(session, "acme", "amazon", "302-0000001-0000001") is None
    created = _upsert(data_db, order_record())
    with data_db.sessions() as session:
        state = orders.order_state(session, "acme", "amazon", "302-0000001-0000001")
    assert state == (created.order_id, 1, digest("payload-1"))
    _order_id, version, _content_digest = state  # unpacks as a plain 3-tuple
    assert version == 1


def test_changed_payload_adds_a_version_and_supersedes_unsent_deliveries(
    data_db: MigratedDatabase,
) -> None:
    first = _upsert(data_db, order_record(), ["erp", "wms", "crm", "sftp"])
    erp, wms, crm, sftp = first.delivery_ids
    with data_db.sessions.begin() as session:
        for delivery_id, status in ((wms, "failed"), (crm, "delivered"), (sftp, "sending")):
            session.execute(
                sa.update(Delivery).where(Delivery.id == delivery_id).values(status=status)
            )

    new_index = [("email", digest("new@example.com"))]
    changed = order_record(
        content_digest=digest("payload-2"),
        status="Shipped",
        pii_ciphertext=b"\x01sealed-v2",
        wrapped_data_key=b"\x02wrapped-v2",
        bucket_day=date(2026, 4, 9),
        shipped_at=LATER,
        blind_index=new_index,
    )
    second = _upsert(data_db, changed, ["erp", "wms"], now=LATER)

    assert (second.outcome, second.version, second.order_id) == ("updated", 2, first.order_id)
    by_id = {d.id: d for d in _deliveries(data_db)}
    assert {i: by_id[i].status for i in first.delivery_ids} == {
        erp: "superseded",
        wms: "superseded",
        crm: "delivered",  # already delivered: history stays
        sftp: "sending",  # in flight: it finishes, the destination deduplicates
    }
    assert [
        (by_id[i].destination, by_id[i].order_version, by_id[i].status) for i in second.delivery_ids
    ] == [
        ("erp", 2, "pending"),
        ("wms", 2, "pending"),
    ]
    with data_db.sessions() as session:
        order = orders.get_order(session, first.order_id)
        assert order is not None
        assert (order.version, order.status, order.pii_ciphertext) == (
            2,
            "Shipped",
            b"\x01sealed-v2",
        )
        assert (order.bucket_day, order.shipped_at) == (date(2026, 4, 9), LATER)
        assert (order.first_stored_at, order.last_stored_at) == (NOW, LATER)
    assert _blind_index(data_db, first.order_id) == set(new_index)


def test_same_order_number_on_another_marketplace_or_client_is_another_order(
    data_db: MigratedDatabase,
) -> None:
    a = _upsert(data_db, order_record())
    b = _upsert(data_db, order_record(marketplace="ebay"))
    c = _upsert(data_db, order_record(client_id="globex"))
    assert len({a.order_id, b.order_id, c.order_id}) == 3
    assert {a.outcome, b.outcome, c.outcome} == {"created"}


def test_naive_time_is_refused(data_db: MigratedDatabase) -> None:
    with pytest.raises(NaiveDatetimeError):
        _upsert(data_db, order_record(), now=NOW.replace(tzinfo=None))


def test_record_must_carry_ciphertext_key_and_bucket_together() -> None:
    with pytest.raises(ValueError, match="go together"):
        order_record(wrapped_data_key=None)
    bare = order_record(pii_ciphertext=None, wrapped_data_key=None, bucket_day=None)
    assert bare.pii_ciphertext is None


def test_mark_shredded_drops_pii_and_index_and_refuses_to_bring_pii_back(
    data_db: MigratedDatabase,
) -> None:
    created = _upsert(data_db, order_record())
    with data_db.sessions.begin() as session:
        assert orders.mark_shredded(session, created.order_id, reason="erasure", now=LATER)
        assert not orders.mark_shredded(session, created.order_id, reason="erasure", now=LATER)

    with data_db.sessions() as session:
        order = orders.get_order(session, created.order_id)
        assert order is not None
        assert (order.pii_ciphertext, order.wrapped_data_key, order.bucket_day) == (None,) * 3
        assert (order.shredded_at, order.shred_reason) == (LATER, "erasure")
        assert order.clear == order_record().clear  # non-PII record stays
    assert _blind_index(data_db, created.order_id) == set()

    assert _upsert(data_db, order_record(), now=LATER).outcome == "unchanged"
    with pytest.raises(OrderShreddedError) as raised:
        _upsert(data_db, order_record(content_digest=digest("payload-2")), now=LATER)
    assert raised.value.order_id == created.order_id
    with data_db.sessions() as session:
        order = orders.get_order(session, created.order_id)
        assert order is not None
        assert (order.version, order.pii_ciphertext) == (1, None)


def test_database_refuses_a_shredded_row_that_still_holds_ciphertext(
    data_db: MigratedDatabase,
) -> None:
    created = _upsert(data_db, order_record())
    with pytest.raises(sa.exc.IntegrityError), data_db.sessions.begin() as session:
        session.execute(
            sa.update(Order).where(Order.id == created.order_id).values(shredded_at=NOW)
        )


def test_shred_bucket_shreds_only_that_clients_bucket(data_db: MigratedDatabase) -> None:
    day, next_day = date(2026, 4, 5), date(2026, 4, 6)
    a = _upsert(data_db, order_record(marketplace_order_id="A", bucket_day=day))
    b = _upsert(data_db, order_record(marketplace_order_id="B", bucket_day=day))
    c = _upsert(data_db, order_record(marketplace_order_id="C", bucket_day=next_day))
    other = _upsert(data_db, order_record(client_id="globex", bucket_day=day))

    with data_db.sessions.begin() as session:
        shredded = orders.shred_bucket(
            session, client_id="acme", bucket_day=day, reason="expired", now=LATER
        )
    assert shredded == 2
    with data_db.sessions() as session:
        state = {
            o.id: o.shredded_at
            for o in session.scalars(
                sa.select(Order).where(
                    Order.id.in_([a.order_id, b.order_id, c.order_id, other.order_id])
                )
            )
        }
    assert state == {a.order_id: LATER, b.order_id: LATER, c.order_id: None, other.order_id: None}
    assert _blind_index(data_db, a.order_id) == set()
    assert _blind_index(data_db, c.order_id) != set()


def test_iter_orders_by_bucket_walks_a_day_range_in_batches(data_db: MigratedDatabase) -> None:
    ids = {}
    for n in range(7):
        record = order_record(marketplace_order_id=f"O-{n}", bucket_day=date(2026, 4, 1 + n))
        ids[n] = _upsert(data_db, record).order_id
    _upsert(data_db, order_record(client_id="globex", bucket_day=date(2026, 4, 3)))
    with data_db.sessions.begin() as session:
        orders.mark_shredded(session, ids[3], reason="erasure", now=NOW)

    with data_db.sessions() as session:
        walked = [
            o.id
            for o in orders.iter_orders_by_bucket(
                session, "acme", first_day=date(2026, 4, 2), last_day=date(2026, 4, 6), batch_size=2
            )
        ]
    assert walked == [ids[1], ids[2], ids[4], ids[5]]


def test_rewrap_only_replaces_the_key_it_was_given(data_db: MigratedDatabase) -> None:
    created = _upsert(data_db, order_record())
    with data_db.sessions.begin() as session:
        stale = orders.rewrap_order(
            session,
            created.order_id,
            expected_wrapped_key=b"not-the-current-key",
            wrapped_data_key=b"rewrapped",
            bucket_day=date(2026, 5, 1),
        )
        moved = orders.rewrap_order(
            session,
            created.order_id,
            expected_wrapped_key=b"\x02wrapped-key",
            wrapped_data_key=b"rewrapped",
            bucket_day=date(2026, 5, 1),
        )
    assert (stale, moved) == (False, True)
    with data_db.sessions() as session:
        order = orders.get_order(session, created.order_id)
        assert order is not None
        assert (order.wrapped_data_key, order.bucket_day) == (b"rewrapped", date(2026, 5, 1))
        assert order.pii_ciphertext == b"\x01sealed-pii"


def test_find_orders_by_blind_index_digest(data_db: MigratedDatabase) -> None:
    email = ("email", digest("buyer@example.com"))
    first = _upsert(data_db, order_record(marketplace_order_id="A", blind_index=[email]))
    second = _upsert(data_db, order_record(marketplace_order_id="B", blind_index=[email, email]))
    _upsert(data_db, order_record(marketplace_order_id="C", blind_index=[("email", digest("x"))]))
    _upsert(data_db, order_record(client_id="globex", blind_index=[email]))

    with data_db.sessions() as session:
        found = orders.find_order_ids_by_blind_index(session, "acme", *email)
        by_other_kind = orders.find_order_ids_by_blind_index(session, "acme", "buyer_id", email[1])
    assert found == [first.order_id, second.order_id]
    assert by_other_kind == []


# --- Concurrency ----------------------------------------------------------------------------


def _race(db: MigratedDatabase, records: list[orders.OrderRecord]) -> list[orders.UpsertResult]:
    """Upsert every record from its own thread and connection, all released at once."""
    return run_concurrently(lambda i: _upsert(db, records[i], ["erp", "wms"]), len(records))


def test_concurrent_upserts_of_the_same_payload_store_it_once(data_db: MigratedDatabase) -> None:
    results = _race(data_db, [order_record()] * 6)

    assert sorted(r.outcome for r in results) == ["created"] + ["unchanged"] * 5
    assert len({r.order_id for r in results}) == 1
    assert [(d.order_version, d.destination) for d in _deliveries(data_db)] == [
        (1, "erp"),
        (1, "wms"),
    ]


def test_concurrent_upserts_of_changed_payloads_chain_versions(data_db: MigratedDatabase) -> None:
    records = [order_record(content_digest=digest(f"payload-{n}")) for n in range(6)]
    results = _race(data_db, records)

    assert sorted(r.outcome for r in results) == ["created"] + ["updated"] * 5
    assert sorted(r.version for r in results) == [1, 2, 3, 4, 5, 6]
    deliveries = _deliveries(data_db)
    assert len(deliveries) == 12
    live = [(d.order_version, d.destination) for d in deliveries if d.status == "pending"]
    assert live == [(6, "erp"), (6, "wms")]
    assert {d.status for d in deliveries if d.order_version < 6} == {"superseded"}
    with data_db.sessions() as session:
        state = orders.order_state(session, "acme", "amazon", "302-0000001-0000001")
    winner = next(r for r in results if r.version == 6)
    assert state is not None
    assert state.content_digest == records[results.index(winner)].content_digest


@pytest.mark.postgres
@pytest.mark.parametrize("second_payload", ["same", "changed"])
def test_postgres_second_writer_waits_for_the_first_then_compares(
    postgres_data_db: MigratedDatabase, second_payload: str
) -> None:
    """The exact interleaving: B reaches the INSERT while A's new row is still uncommitted."""
    db = postgres_data_db
    second = order_record(
        content_digest=digest("payload-1" if second_payload == "same" else "payload-2")
    )
    b_pid: queue.Queue[int] = queue.Queue()

    def writer_b() -> orders.UpsertResult:
        with db.sessions.begin() as session:
            b_pid.put(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
            return orders.upsert_order(session, second, ["erp"], LATER)

    with ThreadPoolExecutor(max_workers=1) as pool:
        with db.sessions.begin() as session_a:
            a = orders.upsert_order(session_a, order_record(), ["erp"], NOW)
            b_future = pool.submit(writer_b)
            _wait_until_waiting_on_a_lock(db, b_pid.get(timeout=10))
        b = b_future.result(timeout=30)

    assert b.order_id == a.order_id
    if second_payload == "same":
        assert (b.outcome, b.version, b.delivery_ids) == ("unchanged", 1, ())
        assert [d.status for d in _deliveries(db)] == ["pending"]
    else:
        assert (b.outcome, b.version) == ("updated", 2)
        assert [(d.order_version, d.status) for d in _deliveries(db)] == [
            (1, "superseded"),
            (2, "pending"),
        ]


def _wait_until_waiting_on_a_lock(db: MigratedDatabase, pid: int) -> None:
    query = sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
    with db.engine.connect() as connection:
        for _ in range(2000):
            if connection.execute(query, {"pid": pid}).scalar() == "Lock":
                return
            connection.rollback()
            threading.Event().wait(0.005)
    raise AssertionError("the second writer never waited for the first one's lock")

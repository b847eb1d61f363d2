"""The outbox's batch verbs: a claim topped up for one destination, bulk delivered, release."""

from __future__ import annotations

from datetime import timedelta

from storage import outbox
from storage.db import write_session
from tests.fixtures.databases import MigratedDatabase
from tests.storage.factories import NOW
from tests.storage.test_outbox import LEASE_S, _orders_with_deliveries, _status

LATER = NOW + timedelta(minutes=1)


def _claim(db: MigratedDatabase, ids: list[int], top_up_to: int, worker: str = "w") -> list[int]:
    claimed = outbox.claim(
        db.sessions,
        now=LATER,
        lease_s=LEASE_S,
        worker_id=worker,
        limit=len(ids),
        delivery_ids=ids,
        top_up_to=top_up_to,
    )
    return [c.id for c in claimed]


def test_top_up_takes_due_rows_of_the_same_client_and_destination_only(
    data_db: MigratedDatabase,
) -> None:
    erp_and_wms = _orders_with_deliveries(data_db, 6, ("erp", "wms"))
    erp = erp_and_wms[0::2]
    others = _orders_with_deliveries(data_db, 2, ("erp",), client="globex")

    claimed = _claim(data_db, [erp[3]], top_up_to=4)

    # The message's own row first, then the oldest due rows of acme/erp.
    assert claimed == [erp[3], erp[0], erp[1], erp[2]]
    assert all(_status(data_db, i).status == "pending" for i in erp[4:] + others)
    assert all(_status(data_db, i).status == "pending" for i in erp_and_wms[1::2])


def test_no_top_up_when_the_messages_own_rows_are_taken(data_db: MigratedDatabase) -> None:
    ids = _orders_with_deliveries(data_db, 5)
    assert _claim(data_db, [ids[0]], top_up_to=1, worker="first") == [ids[0]]

    # Someone else is on this destination already: a late message leaves the rest to it.
    assert _claim(data_db, [ids[0]], top_up_to=5, worker="second") == []
    assert all(_status(data_db, i).status == "pending" for i in ids[1:])


def test_mark_delivered_many_only_touches_rows_being_sent(data_db: MigratedDatabase) -> None:
    ids = _orders_with_deliveries(data_db, 3)
    _claim(data_db, ids[:2], top_up_to=2)

    with write_session(data_db.sessions) as session:
        assert outbox.mark_delivered_many(session, ids, now=LATER) == 2

    assert [_status(data_db, i).status for i in ids] == ["delivered", "delivered", "pending"]
    assert _status(data_db, ids[0]).delivered_at == LATER


def test_release_hands_rows_back_unsent_without_counting_the_attempt(
    data_db: MigratedDatabase,
) -> None:
    ids = _orders_with_deliveries(data_db, 2)
    _claim(data_db, ids, top_up_to=2, worker="w")
    retry_at = LATER + timedelta(minutes=5)

    with write_session(data_db.sessions) as session:
        assert outbox.release(session, ids, worker_id="intruder", retry_at=retry_at) == 0
        assert outbox.release(session, ids, worker_id="w", retry_at=retry_at) == 2

    for delivery_id in ids:
        row = _status(data_db, delivery_id)
        assert (row.status, row.attempts, row.leased_by, row.lease_until) == (
            "pending",
            0,
            None,
            None,
        )
        assert row.next_attempt_at == retry_at
    assert _claim(data_db, ids, top_up_to=2) == []  # not due before retry_at

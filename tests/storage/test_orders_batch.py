"""`upsert_orders`: a page of orders in one transaction, with upsert_order's semantics each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import pytest
import sqlalchemy as sa

from storage import orders
from storage.db import write_session
from storage.models import BlindIndexEntry, Delivery, Order
from storage.outbox import delivery_idempotency_key
from tests.fixtures.databases import MigratedDatabase
from tests.storage.concurrency import run_concurrently
from tests.storage.factories import NOW, digest, order_record

LATER = NOW + timedelta(hours=1)


def _record(n: int, payload: str = "a", **overrides: object) -> orders.OrderRecord:
    return order_record(
        marketplace_order_id=f"302-{n:07d}-0000001",
        content_digest=digest(f"{n}-{payload}"),
        blind_index=[("email", digest(f"b{n}@example.com")), ("buyer_id", digest(f"B-{n}"))],
        **overrides,
    )


def _upsert_many(
    db: MigratedDatabase,
    records: Sequence[orders.OrderRecord],
    destinations: Sequence[str] = ("erp", "wms"),
) -> list[orders.UpsertResult]:
    with write_session(db.sessions) as session:
        return orders.upsert_orders(session, [(r, destinations) for r in records], NOW)


def _rows(db: MigratedDatabase, model: type, *columns: str) -> list[tuple[object, ...]]:
    with db.sessions() as session:
        table = model.__table__
        query = sa.select(*(table.c[c] for c in columns)).order_by(*table.primary_key.columns)
        return [tuple(row) for row in session.execute(query)]


def test_a_page_of_new_orders_is_stored_with_index_and_outbox_rows(
    data_db: MigratedDatabase,
) -> None:
    records = [_record(n) for n in (3, 1, 2)]

    results = _upsert_many(data_db, records)

    assert [r.outcome for r in results] == ["created"] * 3
    assert [r.version for r in results] == [1, 1, 1]
    with data_db.sessions() as session:
        for record, result in zip(records, results, strict=True):
            row = session.get(Order, result.order_id)
            assert row is not None
            assert row.marketplace_order_id == record.marketplace_order_id
            assert row.content_digest == record.content_digest
            assert row.clear == record.clear
            assert row.pii_ciphertext == record.pii_ciphertext
            assert row.first_stored_at == NOW
    deliveries = {
        d[0]: d[1:]
        for d in _rows(data_db, Delivery, "id", "order_id", "destination", "idempotency_key")
    }
    for record, result in zip(records, results, strict=True):
        assert len(result.delivery_ids) == 2
        got = [deliveries[i] for i in result.delivery_ids]
        assert got == [
            (
                result.order_id,
                name,
                delivery_idempotency_key("acme", "amazon", record.marketplace_order_id, 1, name),
            )
            for name in ("erp", "wms")
        ]
    index = _rows(data_db, BlindIndexEntry, "order_id", "kind", "digest")
    assert len(index) == 6
    assert (results[0].order_id, "email", digest("b3@example.com")) in index


def test_mixed_page_matches_one_by_one_semantics(data_db: MigratedDatabase) -> None:
    _upsert_many(data_db, [_record(1), _record(2), _record(4)])
    with write_session(data_db.sessions) as session:
        shredded_id = orders.order_state(session, "acme", "amazon", _record(4).marketplace_order_id)
        assert shredded_id is not None
        orders.mark_shredded(session, shredded_id.order_id, reason="erased", now=NOW)

    page = [
        _record(1),  # unchanged
        _record(2, "b"),  # changed: version 2
        _record(3),  # new
        _record(3, "b"),  # the same new order again, changed, later in the page
        _record(4, "b"),  # changed, but shredded: must not come back
    ]
    results = _upsert_many(data_db, page)

    assert [(r.outcome, r.version) for r in results] == [
        ("unchanged", 1),
        ("updated", 2),
        ("created", 1),
        ("updated", 2),
        ("unchanged", 1),
    ]
    assert results[2].order_id == results[3].order_id
    with data_db.sessions() as session:
        shredded = session.get(Order, shredded_id.order_id)
        assert shredded is not None
        assert shredded.pii_ciphertext is None
        assert shredded.content_digest == _record(4).content_digest
    live = [
        (order_id, version)
        for order_id, version, status in _rows(
            data_db, Delivery, "order_id", "order_version", "status"
        )
        if status == "pending"
    ]
    # The shredded order keeps its first version's rows (forwarding finds no PII and gives up).
    assert sorted(set(live)) == sorted(
        {
            (results[0].order_id, 1),
            (results[1].order_id, 2),
            (results[2].order_id, 2),
            (shredded_id.order_id, 1),
        }
    )


def test_an_empty_page_writes_nothing(data_db: MigratedDatabase) -> None:
    assert _upsert_many(data_db, []) == []
    assert _rows(data_db, Order, "id") == []


def test_concurrent_overlapping_pages_store_each_order_once(data_db: MigratedDatabase) -> None:
    # Each writer has the same 40 orders in a different order, plus its own 10.
    shared = [_record(n) for n in range(40)]

    def page(writer: int) -> list[orders.OrderRecord]:
        mine = [_record(1000 + writer * 100 + n) for n in range(10)]
        ordered = shared[writer * 7 :] + shared[: writer * 7]
        return list(reversed(ordered)) + mine if writer % 2 else ordered + mine

    results = run_concurrently(lambda writer: _upsert_many(data_db, page(writer)), 4)

    created = [r for batch in results for r in batch if r.outcome == "created"]
    assert len(created) == 40 + 4 * 10
    assert all(r.outcome in ("created", "unchanged") for batch in results for r in batch)
    assert len(_rows(data_db, Order, "id")) == 80
    assert len(_rows(data_db, Delivery, "id")) == 80 * 2


def _outcomes(
    db: MigratedDatabase, client_id: str, ns: Sequence[tuple[int, str]], *, pass_states: bool
) -> list[tuple[str, int, int]]:
    page = [_record(n, payload, client_id=client_id) for n, payload in ns]
    with write_session(db.sessions) as session:
        states = None
        if pass_states:
            keys = [(r.marketplace, r.marketplace_order_id) for r in page]
            states = orders.order_states(session, client_id, keys)
        results = orders.upsert_orders(session, [(r, ("erp",)) for r in page], NOW, states=states)
    return [(r.outcome, r.version, len(r.delivery_ids)) for r in results]


def test_states_the_caller_read_give_the_same_results_as_states_read_inside(
    data_db: MigratedDatabase,
) -> None:
    # Client "inside" stores with the states upsert_orders reads; "passed" passes them in.
    pages = [
        [(1, "a"), (2, "a"), (4, "a")],
        [(1, "a"), (2, "b"), (3, "a"), (3, "b"), (5, "a")],
        [(1, "a"), (2, "b"), (5, "c"), (6, "a"), (6, "a")],
    ]
    for page in pages:
        assert _outcomes(data_db, "inside", page, pass_states=False) == _outcomes(
            data_db, "passed", page, pass_states=True
        )
    with data_db.sessions() as session:
        rows = session.execute(
            sa.select(Order.client_id, Order.marketplace_order_id, Order.version)
        ).all()
    inside = sorted(row[1:] for row in rows if row[0] == "inside")
    assert inside
    assert inside == sorted(row[1:] for row in rows if row[0] == "passed")


def test_stale_states_are_corrected_under_the_lock(data_db: MigratedDatabase) -> None:
    # States read before another writer created one order and changed another.
    _upsert_many(data_db, [_record(1)])
    with data_db.sessions() as session:
        stale = orders.order_states(
            session, "acme", [("amazon", _record(n).marketplace_order_id) for n in (1, 2)]
        )
    _upsert_many(data_db, [_record(1, "b"), _record(2)])

    with write_session(data_db.sessions) as session:
        results = orders.upsert_orders(
            session, [(_record(1, "c"), ("erp",)), (_record(2), ("erp",))], NOW, states=stale
        )

    assert [(r.outcome, r.version) for r in results] == [("updated", 3), ("unchanged", 1)]


def test_states_of_one_client_are_refused_for_a_page_of_several(
    data_db: MigratedDatabase,
) -> None:
    page = [(_record(1), ("erp",)), (_record(2, client_id="other"), ("erp",))]
    with write_session(data_db.sessions) as session, pytest.raises(ValueError, match="several"):
        orders.upsert_orders(session, page, NOW, states={})


def test_clear_json_text_is_stored_as_the_clear_part(data_db: MigratedDatabase) -> None:
    clear = {"currency": "EUR", "note": 'Grüße "quoted" \\ \n', "items": [{"qty": 10**20}]}
    text = json.dumps(clear, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    records = [_record(1, clear=clear, clear_json=text), _record(2, clear=clear)]

    results = _upsert_many(data_db, records)

    with data_db.sessions() as session:
        for result in results:
            row = session.get(Order, result.order_id)
            assert row is not None
            assert row.clear == clear

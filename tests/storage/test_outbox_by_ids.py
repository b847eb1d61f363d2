"""The outbox statements a message runs by delivery ids: the same leases, found by primary key.

On PostgreSQL the claim by ids, the marking of delivered rows and the handing back of unsent
ones are statements of their own (`storage.outbox_statements`); these tests hold the claim to
the promises of the general one on both dialects, and all three plans to a primary-key lookup
per id however many rows are due and however many updates left dead index entries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from storage import orders, outbox, outbox_statements
from storage.db import write_session
from storage.models import DELIVERY_STATUSES, Delivery
from tests.fixtures.databases import MigratedDatabase
from tests.storage.concurrency import run_concurrently
from tests.storage.factories import NOW, digest, order_record

LEASE_S = 300
LATER = NOW + timedelta(minutes=5)


def _deliveries(db: MigratedDatabase, count: int) -> list[int]:
    """One order each, created a second apart (so oldest first is id order); delivery ids."""
    ids: list[int] = []
    with write_session(db.sessions) as session:
        for n in range(count):
            record = order_record(marketplace_order_id=f"o-{n}")
            result = orders.upsert_order(session, record, ["erp"], NOW + timedelta(seconds=n))
            ids.extend(result.delivery_ids)
    return ids


def _claim(db: MigratedDatabase, ids: list[int], *, worker: str = "w", **kwargs: Any) -> list[int]:
    kwargs.setdefault("now", LATER)
    kwargs.setdefault("limit", max(1, len(ids)))
    claimed = outbox.claim(
        db.sessions, lease_s=LEASE_S, worker_id=worker, delivery_ids=ids, **kwargs
    )
    return [row.id for row in claimed]


def test_a_limit_below_the_message_size_takes_the_oldest_due_rows(
    data_db: MigratedDatabase,
) -> None:
    ids = _deliveries(data_db, 5)
    assert _claim(data_db, [ids[4], ids[0], ids[2]], limit=2) == [ids[0], ids[2]]
    assert _claim(data_db, [ids[4], ids[0], ids[2]]) == [ids[4]]


def test_unknown_ids_and_rows_not_due_are_skipped(data_db: MigratedDatabase) -> None:
    ids = _deliveries(data_db, 3)
    assert _claim(data_db, [ids[1]]) == [ids[1]]
    # ids[1] is leased now; 999999 does not exist; the rest are due.
    assert _claim(data_db, [999_999, ids[1], ids[0], ids[2]]) == [ids[0], ids[2]]
    # Due only once their lease has run out, and then with a second attempt.
    after_lease = LATER + timedelta(seconds=LEASE_S)
    claimed = outbox.claim(
        data_db.sessions,
        now=after_lease,
        lease_s=LEASE_S,
        worker_id="w2",
        limit=3,
        delivery_ids=ids,
    )
    assert [(row.id, row.attempts, row.leased_by) for row in claimed] == [
        (ids[0], 2, "w2"),
        (ids[1], 2, "w2"),
        (ids[2], 2, "w2"),
    ]


# (status, next attempt, lease end), relative to the claim's moment: every status, due or not.
_ROW_STATES = [
    (status, next_attempt_s, lease_s)
    for status in DELIVERY_STATUSES
    for next_attempt_s in (-60, 60)
    for lease_s in (None, -60, 60)
]


def test_a_claim_by_ids_takes_exactly_the_rows_the_general_claim_would(
    data_db: MigratedDatabase,
) -> None:
    # On PostgreSQL the two are different statements, with the due condition written twice:
    # they must agree on every row state.
    ids = _deliveries(data_db, len(_ROW_STATES))
    with write_session(data_db.sessions) as session:
        for delivery_id, (status, next_attempt_s, lease_s) in zip(ids, _ROW_STATES, strict=True):
            session.execute(
                sa.update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status=status,
                    next_attempt_at=LATER + timedelta(seconds=next_attempt_s),
                    lease_until=None if lease_s is None else LATER + timedelta(seconds=lease_s),
                )
            )
    due = {"now": LATER, "lease_s": LEASE_S, "worker_id": "w", "limit": len(ids)}
    with write_session(data_db.sessions) as session:
        general = {row.id for row in outbox.claim(session, **due)}
        session.rollback()
    by_ids = set(_claim(data_db, ids))
    assert by_ids == general
    expected = {
        delivery_id
        for delivery_id, (status, next_attempt_s, lease_s) in zip(ids, _ROW_STATES, strict=True)
        if (status in ("pending", "failed") and next_attempt_s < 0)
        or (status == "sending" and lease_s is not None and lease_s <= 0)
    }
    assert by_ids == expected


def test_a_newer_version_waits_while_an_older_one_is_on_its_way(
    data_db: MigratedDatabase,
) -> None:
    (first,) = _deliveries(data_db, 1)
    assert _claim(data_db, [first]) == [first]  # version 1 is being sent
    with write_session(data_db.sessions) as session:
        newer = orders.upsert_order(
            session,
            order_record(marketplace_order_id="o-0", content_digest=digest("payload-2")),
            ["erp"],
            LATER,
        )
    (second,) = newer.delivery_ids
    assert _claim(data_db, [second]) == []
    # Once version 1's lease has run out, that worker is presumed dead: version 2 may go.
    assert _claim(data_db, [second], now=LATER + timedelta(seconds=LEASE_S)) == [second]


def test_workers_claiming_the_same_ids_at_once_never_share_a_row(
    data_db: MigratedDatabase,
) -> None:
    ids = _deliveries(data_db, 60)

    def worker(index: int) -> list[int]:
        # Every worker walks the same ids in messages of 7, as repeated messages would.
        return [
            claimed
            for start in range(0, len(ids), 7)
            for claimed in _claim(data_db, ids[start : start + 7], worker=f"w{index}")
        ]

    per_worker = run_concurrently(worker, 4)
    claimed = Counter(i for mine in per_worker for i in mine)
    assert [i for i, n in claimed.items() if n > 1] == []
    assert sorted(claimed) == ids


def _crowd_the_status_index(db: MigratedDatabase) -> None:
    """Thousands of rows due on a table never analysed, and dead index entries of every status
    (each update of a row's status leaves one behind until vacuum)."""
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO deliveries (order_id, order_version, client_id, destination,"
            " idempotency_key, status, attempts, next_attempt_at, created_at)"
            " SELECT o.id, 1, 'acme', 'd-' || n, md5(n::text) || md5(o.id::text), 'pending', 0,"
            " %(now)s, %(now)s FROM orders AS o, generate_series(1, 200) AS n",
            {"now": NOW},
        )
        connection.exec_driver_sql(
            "UPDATE deliveries SET status = 'sending', lease_until = %(now)s"
            " WHERE destination LIKE 'd-%%'",
            {"now": NOW},
        )
        connection.exec_driver_sql(
            "UPDATE deliveries SET status = 'pending' WHERE destination LIKE 'd-%%'"
        )


def _assert_looked_up_by_key(db: MigratedDatabase, statement: Any, params: dict[str, Any]) -> None:
    with db.engine.connect() as connection:  # not committed: EXPLAIN ANALYZE runs it
        compiled = statement.compile(dialect=connection.dialect)
        (plan,) = connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON, ANALYZE) " + str(compiled),
            compiled.construct_params(params),
        ).one()
    nodes = list(_nodes(plan[0]["Plan"]))
    used = {node["Index Name"] for node in nodes if "Index Name" in node}
    assert used <= {"pk_deliveries", "uq_deliveries_order_id_order_version_destination"}, used
    assert not any(node["Node Type"] == "Seq Scan" for node in nodes)
    # Every row read was one of the ids (all of them eligible): nothing read and thrown away.
    removed = {node["Node Type"]: node.get("Rows Removed by Filter", 0) for node in nodes}
    assert not any(removed.values()), removed


@pytest.mark.postgres
def test_the_claim_looks_each_id_up_by_primary_key_however_many_rows_are_due(
    data_db: MigratedDatabase,
) -> None:
    if data_db.dialect != "postgresql":
        pytest.skip("SQLite claims inside BEGIN IMMEDIATE with a plain IN")
    ids = _deliveries(data_db, 20)
    _crowd_the_status_index(data_db)
    params = {
        "ids": ids,
        "now": LATER,
        "lease_until": LATER + timedelta(seconds=LEASE_S),
        "worker_id": "w",
        "limit": len(ids),
    }
    _assert_looked_up_by_key(data_db, outbox_statements.claim_statement(False, True, False), params)
    # And through `claim`: exactly the given rows.
    assert _claim(data_db, ids) == ids


@pytest.mark.postgres
def test_marking_rows_delivered_looks_each_id_up_by_primary_key(
    data_db: MigratedDatabase,
) -> None:
    if data_db.dialect != "postgresql":
        pytest.skip("SQLite updates with a plain IN")
    ids = _deliveries(data_db, 20)
    assert _claim(data_db, ids) == ids
    _crowd_the_status_index(data_db)
    params = {"ids": ids, "now": LATER}
    _assert_looked_up_by_key(data_db, outbox_statements.delivered_statement(False), params)
    with write_session(data_db.sessions) as session:
        assert outbox.mark_delivered_many(session, [*ids, 999_999], now=LATER) == len(ids)
        assert outbox.mark_delivered_many(session, ids, now=LATER) == 0


@pytest.mark.postgres
def test_handing_rows_back_looks_each_id_up_by_primary_key(data_db: MigratedDatabase) -> None:
    if data_db.dialect != "postgresql":
        pytest.skip("SQLite updates with a plain IN")
    ids = _deliveries(data_db, 20)
    assert _claim(data_db, ids) == ids
    _crowd_the_status_index(data_db)
    params = {"ids": ids, "worker_id": "w", "retry_at": LATER}
    _assert_looked_up_by_key(data_db, outbox_statements.release_statement(False), params)
    with write_session(data_db.sessions) as session:
        # Only the lease holder may; unknown ids are ignored.
        assert outbox.release(session, ids, worker_id="other", retry_at=LATER) == 0
        assert outbox.release(session, [*ids, 999_999], worker_id="w", retry_at=LATER) == 20
        assert outbox.release(session, ids, worker_id="w", retry_at=LATER) == 0
    # Due again with the attempt not counted: the next claim is the first attempt again.
    claimed = outbox.claim(
        data_db.sessions, now=LATER, lease_s=LEASE_S, worker_id="w2", limit=20, delivery_ids=ids
    )
    assert [(row.id, row.attempts) for row in claimed] == [(i, 1) for i in ids]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)

"""`insert_columns`: the rows SQLAlchemy's own insert stores, values bound as the column types
bind them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, cast

import pytest
import sqlalchemy as sa

from storage.bulk import JsonText, insert_columns
from storage.db import write_session
from storage.errors import NaiveDatetimeError
from storage.models import Order
from tests.fixtures.databases import MigratedDatabase
from tests.storage.factories import NOW, digest

_ORDERS = cast(sa.Table, Order.__table__)
_BERLIN = timezone(timedelta(hours=2))


def _order_row(n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "client_id": "acme",
        "marketplace": "amazon",
        "account": "acme-eu",
        "marketplace_order_id": f"302-{n:07d}",
        "version": 1,
        "content_digest": digest(str(n)),
        "status": "unshipped",
        "purchased_at": NOW - timedelta(days=n),
        "marketplace_updated_at": None,
        "shipped_at": None,
        "delivered_at": None,
        "cancelled_at": None,
        "latest_delivery_by": NOW + timedelta(days=n),
        "delivery_source": None,
        "clear": {"n": n, "items": [{"sku": f"S-{n}"}]},
        "pii_ciphertext": bytes([n]) * 40,
        "wrapped_data_key": bytes([n + 1]) * 60,
        "schema_version": 1,
        "bucket_day": date(2026, 4, 1) + timedelta(days=n),
        "expires_on": date(2026, 4, 1) + timedelta(days=n),
        "shredded_at": None,
        "shred_reason": None,
        "first_stored_at": NOW,
        "last_stored_at": NOW,
    }
    row.update(overrides)
    return row


_COLUMNS = tuple(_order_row(0))


def _stored(db: MigratedDatabase) -> dict[str, tuple[Any, ...]]:
    """Every order row by marketplace order id, all columns but the id."""
    with db.sessions() as session:
        rows = session.execute(sa.select(*(_ORDERS.c[name] for name in _COLUMNS)))
        return {row.marketplace_order_id: tuple(row) for row in rows}


def _by_columns(rows: list[dict[str, Any]], shared: tuple[str, ...]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in rows[0] if name not in shared}


def test_columns_and_shared_values_store_what_sqlalchemy_stores(data_db: MigratedDatabase) -> None:
    as_rows = [_order_row(n) for n in (1, 2, 3)]
    as_columns = [_order_row(n, marketplace_order_id=f"C-{n}") for n in (1, 2, 3)]
    shared = ("version", "first_stored_at", "last_stored_at", "shredded_at", "shred_reason")

    with write_session(data_db.sessions) as session:
        session.execute(sa.insert(_ORDERS), as_rows)  # bound by the column types
        returned = insert_columns(
            session,
            _ORDERS,
            _by_columns(as_columns, shared),
            shared={name: as_columns[0][name] for name in shared},
            returning=("id", "marketplace_order_id"),
        )

    assert sorted(row.marketplace_order_id for row in returned) == ["C-1", "C-2", "C-3"]
    stored = _stored(data_db)
    for n in (1, 2, 3):
        by_rows, by_columns = stored[f"302-{n:07d}"], stored[f"C-{n}"]
        moid = _COLUMNS.index("marketplace_order_id")
        assert by_rows[:moid] + by_rows[moid + 1 :] == by_columns[:moid] + by_columns[moid + 1 :]
    assert stored["C-2"][_COLUMNS.index("clear")] == {"n": 2, "items": [{"sku": "S-2"}]}


def test_values_are_bound_as_their_column_types_bind_them(data_db: MigratedDatabase) -> None:
    # An aware time in another zone is the same instant in UTC; JSON text is stored as the
    # JSON it spells; bytes-like values other than bytes are stored as their bytes.
    in_berlin = datetime(2026, 2, 27, 11, 30, tzinfo=_BERLIN)
    rows = [
        _order_row(1, purchased_at=in_berlin, clear=JsonText('{"a":[1,2]}')),
        _order_row(2, pii_ciphertext=bytearray(b"\x00sealed"), wrapped_data_key=memoryview(b"k")),
    ]

    with write_session(data_db.sessions) as session:
        insert_columns(session, _ORDERS, _by_columns(rows, ()))

    stored = _stored(data_db)
    first, second = stored["302-0000001"], stored["302-0000002"]
    assert first[_COLUMNS.index("purchased_at")] == datetime(2026, 2, 27, 9, 30, tzinfo=UTC)
    assert first[_COLUMNS.index("purchased_at")].tzinfo == UTC
    assert first[_COLUMNS.index("clear")] == {"a": [1, 2]}
    assert second[_COLUMNS.index("pii_ciphertext")] == b"\x00sealed"
    assert second[_COLUMNS.index("wrapped_data_key")] == b"k"


@pytest.mark.parametrize("shared", [False, True])
def test_a_naive_time_is_refused_in_a_column_or_shared(
    data_db: MigratedDatabase, shared: bool
) -> None:
    rows = [_order_row(1), _order_row(2, purchased_at=NOW.replace(tzinfo=None))]
    columns = _by_columns(rows, ())
    extra: dict[str, Any] = {}
    if shared:
        del columns["last_stored_at"]
        extra["last_stored_at"] = NOW.replace(tzinfo=None)
        columns["purchased_at"][1] = NOW

    # SQLite binds inside SQLAlchemy, which wraps the error in a StatementError.
    with (
        pytest.raises((NaiveDatetimeError, sa.exc.StatementError)) as raised,
        write_session(data_db.sessions) as session,
    ):
        insert_columns(session, _ORDERS, columns, shared=extra)
    error = raised.value
    assert isinstance(getattr(error, "orig", error), NaiveDatetimeError)
    assert _stored(data_db) == {}


def test_no_rows_write_nothing(data_db: MigratedDatabase) -> None:
    with write_session(data_db.sessions) as session:
        assert insert_columns(session, _ORDERS, {"client_id": []}, returning=("id",)) == []
    assert _stored(data_db) == {}

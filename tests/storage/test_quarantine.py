"""Quarantine: add, list, resolve, and purge with the bucket whose key sealed the payload."""

from __future__ import annotations

from datetime import date, timedelta

from storage import quarantine
from tests.fixtures.databases import MigratedDatabase
from tests.storage.factories import NOW

DAY = date(2026, 4, 5)


def _add(db: MigratedDatabase, *, client_id: str = "acme", bucket_day: date = DAY) -> int:
    with db.sessions.begin() as session:
        return quarantine.add_quarantined(
            session,
            client_id=client_id,
            marketplace="ebay",
            account="acme-ebay",
            marketplace_order_id="12-34567-89012",
            reason="ShippingAddress.PostalCode: does not match the country's format",
            field="ShippingAddress.PostalCode",
            sealed_payload=b"\x01sealed",
            wrapped_data_key=b"\x02wrapped",
            bucket_day=bucket_day,
            now=NOW,
        )


def test_added_entries_are_listed_until_resolved(data_db: MigratedDatabase) -> None:
    first, second = _add(data_db), _add(data_db)
    other = _add(data_db, client_id="globex")

    with data_db.sessions.begin() as session:
        listed = quarantine.list_quarantined(session, client_id="acme")
        assert [e.id for e in listed] == [first, second]
        assert listed[0].field == "ShippingAddress.PostalCode"
        assert listed[0].received_at == NOW
        assert quarantine.resolve_quarantined(session, first, now=NOW + timedelta(hours=1))
        assert not quarantine.resolve_quarantined(session, first, now=NOW + timedelta(hours=2))
        assert not quarantine.resolve_quarantined(session, 999_999, now=NOW)

    with data_db.sessions() as session:
        open_entries = quarantine.list_quarantined(session)
        everything = quarantine.list_quarantined(session, include_resolved=True)
        page = quarantine.list_quarantined(session, include_resolved=True, limit=1, after_id=first)
        sealed = quarantine.get_sealed(session, second)
    assert [e.id for e in open_entries] == [second, other]
    assert [(e.id, e.resolved_at) for e in everything] == [
        (first, NOW + timedelta(hours=1)),
        (second, None),
        (other, None),
    ]
    assert [e.id for e in page] == [second]
    assert sealed is not None
    assert (sealed.sealed_payload, sealed.wrapped_data_key) == (b"\x01sealed", b"\x02wrapped")


def test_purge_bucket_deletes_only_that_clients_bucket(data_db: MigratedDatabase) -> None:
    gone = _add(data_db)
    kept_day = _add(data_db, bucket_day=DAY + timedelta(days=1))
    kept_client = _add(data_db, client_id="globex")
    with data_db.sessions.begin() as session:
        assert quarantine.purge_bucket(session, client_id="acme", bucket_day=DAY) == 1
    with data_db.sessions() as session:
        remaining = quarantine.list_quarantined(session, include_resolved=True)
    assert gone not in [e.id for e in remaining]
    assert [e.id for e in remaining] == [kept_day, kept_client]

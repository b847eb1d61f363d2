"""Key-store tables: the constraints the key store relies on hold on both dialects."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from storage.keystore_models import BucketKey, IndexKey, RootRotation
from tests.fixtures.databases import MigratedDatabase
from tests.storage.factories import NOW


def _bucket_key(**overrides: Any) -> BucketKey:
    fields: dict[str, Any] = {
        "client_id": "acme",
        "day": date(2026, 4, 5),
        "key_id": "a1" * 16,
        "root_key_id": "local:v1",
        "wrapped_key": b"\x00" * 60,
        "commitment": "c" * 64,
        "state": "active",
        "created_at": NOW,
    }
    fields.update(overrides)
    return BucketKey(**fields)


def test_rows_round_trip(keystore_db: MigratedDatabase) -> None:
    with keystore_db.sessions.begin() as session:
        session.add(_bucket_key())
        session.add(
            IndexKey(
                client_id="acme",
                key_id="b2" * 16,
                root_key_id="local:v1",
                wrapped_key=b"k",
                created_at=NOW,
            )
        )
        session.add(
            RootRotation(
                started_at=NOW,
                from_root_key_id="local:v1",
                to_root_key_id="local:v2",
                state="running",
            )
        )
    with keystore_db.sessions() as session:
        key = session.scalars(sa.select(BucketKey)).one()
        assert (key.day, key.wrapped_key, key.created_at) == (date(2026, 4, 5), b"\x00" * 60, NOW)
        assert session.get(IndexKey, "acme") is not None
        assert session.scalars(sa.select(RootRotation.id)).one() == 1


@pytest.mark.parametrize(
    "second",
    [
        {"key_id": "ff" * 16},  # same client and day
        {"day": date(2026, 4, 6)},  # same key_id
    ],
)
def test_one_key_per_client_and_day_and_unique_key_ids(
    keystore_db: MigratedDatabase, second: dict[str, Any]
) -> None:
    with keystore_db.sessions.begin() as session:
        session.add(_bucket_key())
    with pytest.raises(sa.exc.IntegrityError), keystore_db.sessions.begin() as session:
        session.add(_bucket_key(**second))


def test_a_destroyed_key_cannot_keep_its_bytes(keystore_db: MigratedDatabase) -> None:
    with pytest.raises(sa.exc.IntegrityError), keystore_db.sessions.begin() as session:
        session.add(_bucket_key(state="destroyed", destroyed_at=NOW))
    with keystore_db.sessions.begin() as session:
        session.add(_bucket_key(state="destroyed", wrapped_key=None, destroyed_at=NOW))

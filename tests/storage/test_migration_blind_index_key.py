"""data_0004: the blind index keyed by (order_id, kind, digest), up and down, rows kept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fixtures.databases import DIALECTS
from tests.storage.migration_steps import migrate_data_to

BEFORE = "data_0003"
REVISION = "data_0004"

ORDER = {
    "id": 7,
    "client_id": "acme",
    "marketplace": "amazon",
    "account": "acme-eu",
    "marketplace_order_id": "302-1",
    "version": 1,
    "content_digest": "c" * 64,
    "status": "unshipped",
    "purchased_at": "2026-03-01 12:00:00+00:00",
    "clear": "{}",
    "schema_version": 1,
    "first_stored_at": "2026-03-01 12:00:00+00:00",
    "last_stored_at": "2026-03-01 12:00:00+00:00",
}
ENTRIES = {("acme", 7, "email", "e" * 64), ("acme", 7, "phone", "f" * 64)}


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data.db'}"
    factory: Callable[[], str] = request.getfixturevalue("postgres_database_factory")
    return factory()


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    # A plain engine: on SQLite foreign keys stay off, as storage.migrate runs migrations.
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def _entries(engine: sa.Engine) -> set[tuple[str, int, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT client_id, order_id, kind, digest FROM blind_index")
        )
        return {(r.client_id, r.order_id, r.kind, r.digest) for r in rows}


def _schema(engine: sa.Engine) -> dict[str, object]:
    inspector = sa.inspect(engine)
    return {
        "columns": sorted(c["name"] for c in inspector.get_columns("blind_index")),
        "primary_key": inspector.get_pk_constraint("blind_index")["constrained_columns"],
        "unique": sorted(
            (u["name"], tuple(u["column_names"]))
            for u in inspector.get_unique_constraints("blind_index")
        ),
        "indexes": sorted(
            (i["name"], tuple(i["column_names"]))
            for i in inspector.get_indexes("blind_index")
            if not i.get("duplicates_constraint")
        ),
        "foreign_keys": [
            (fk["name"], fk["constrained_columns"], fk["referred_table"], fk["options"])
            for fk in inspector.get_foreign_keys("blind_index")
        ],
    }


def _insert_order_and_entries(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.table("orders", *map(sa.column, ORDER)).insert(), ORDER)
        for client_id, order_id, kind, digest in sorted(ENTRIES):
            connection.execute(
                sa.text(
                    "INSERT INTO blind_index (client_id, order_id, kind, digest)"
                    " VALUES (:c, :o, :k, :d)"
                ),
                {"c": client_id, "o": order_id, "k": kind, "d": digest},
            )


def test_upgrade_keeps_the_rows_under_the_natural_key(engine: sa.Engine) -> None:
    migrate_data_to(engine, BEFORE)
    before = _schema(engine)
    _insert_order_and_entries(engine)
    migrate_data_to(engine, REVISION)
    assert _entries(engine) == ENTRIES
    schema = _schema(engine)
    assert schema["columns"] == ["client_id", "digest", "kind", "order_id"]
    assert schema["primary_key"] == ["order_id", "kind", "digest"]
    assert schema["unique"] == []
    assert schema["indexes"] == [
        ("ix_blind_index_client_id_kind_digest", ("client_id", "kind", "digest"))
    ]
    assert schema["foreign_keys"] == before["foreign_keys"]  # the cascade to orders stays
    # The key refuses a repeat, as the unique constraint did.
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO blind_index (client_id, order_id, kind, digest)"
                " VALUES ('acme', 7, 'email', :d)"
            ),
            {"d": "e" * 64},
        )


def test_downgrade_restores_the_previous_schema_and_keeps_the_rows(engine: sa.Engine) -> None:
    migrate_data_to(engine, BEFORE)
    before = _schema(engine)
    _insert_order_and_entries(engine)
    migrate_data_to(engine, REVISION)
    migrate_data_to(engine, BEFORE, down=True)
    assert _schema(engine) == before
    assert _entries(engine) == ENTRIES
    with engine.connect() as connection:
        ids = connection.execute(sa.text("SELECT id FROM blind_index")).scalars().all()
    assert len(set(ids)) == len(ENTRIES)
    assert None not in ids
    # New rows are numbered again, after the existing ones.
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO blind_index (client_id, order_id, kind, digest)"
                " VALUES ('acme', 7, 'buyer_id', :d)"
            ),
            {"d": "b" * 64},
        )
        new_id = connection.execute(
            sa.text("SELECT id FROM blind_index WHERE kind = 'buyer_id'")
        ).scalar_one()
    assert new_id > max(ids)
    migrate_data_to(engine, REVISION)  # and up again
    assert len(_entries(engine)) == len(ENTRIES) + 1

"""Migrations: they build exactly the models' schema, on both databases and both dialects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage import migrate
from storage.errors import MigrationError
from storage.keystore_models import KeystoreBase
from storage.models import DataBase
from tests.fixtures.databases import DIALECTS, MigratedDatabase

KEYSTORE_TABLES = {"bucket_keys", "index_keys", "root_rotations"}


@pytest.fixture(params=DIALECTS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Make URLs of new, empty databases on the dialect under test."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.db"
    factory: Callable[[], str] = request.getfixturevalue("postgres_database_factory")
    return lambda _name: factory()


def _differences(db: MigratedDatabase, metadata: sa.MetaData) -> list[object]:
    with db.engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def test_data_migrations_build_the_models_schema(data_db: MigratedDatabase) -> None:
    assert _differences(data_db, DataBase.metadata) == []


def test_keystore_migrations_build_the_models_schema(keystore_db: MigratedDatabase) -> None:
    assert _differences(keystore_db, KeystoreBase.metadata) == []


def test_the_comparison_would_notice_a_difference(data_db: MigratedDatabase) -> None:
    """Guard against a vacuous comparison: a missing index does show up."""
    with data_db.engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_orders_client_id_status"))
    diffs = _differences(data_db, DataBase.metadata)
    assert [d[0] for d in diffs if isinstance(d, tuple)] == ["add_index"]


def test_upgrade_is_idempotent_and_reports_its_revision(fresh_url: Callable[[str], str]) -> None:
    url = fresh_url("data")
    assert migrate.current_revision(url, keystore=False) is None
    migrate.upgrade(url, keystore=False)
    migrate.upgrade(url, keystore=False)
    assert migrate.current_revision(url, keystore=False) == migrate.head_revision(keystore=False)
    engine = sa.create_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(DataBase.metadata.tables) <= tables
    assert not tables & KEYSTORE_TABLES


def test_upgrade_all_migrates_two_databases(fresh_url: Callable[[str], str]) -> None:
    data_url, keystore_url = fresh_url("data"), fresh_url("keys")
    migrate.upgrade_all(data_url, keystore_url)
    assert migrate.current_revision(data_url, keystore=False) == migrate.head_revision(
        keystore=False
    )
    assert migrate.current_revision(keystore_url, keystore=True) == "keystore_0001"


def test_upgrade_all_refuses_one_database_for_both(fresh_url: Callable[[str], str]) -> None:
    url = fresh_url("same")
    with pytest.raises(MigrationError, match="must be different databases"):
        migrate.upgrade_all(url, url)
    assert migrate.current_revision(url, keystore=False) is None  # nothing was touched


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sqlite:////var/ov/data.db", "sqlite:////var/ov/../ov/data.db"),
        (
            "postgresql+psycopg://ov@localhost/ordervault",
            "postgresql://other:secret@127.0.0.1/ordervault",
        ),
    ],
)
def test_same_database_sees_through_spelling(a: str, b: str) -> None:
    assert migrate.same_database(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sqlite:////var/ov/data.db", "sqlite:////var/ov/keys.db"),
        ("postgresql://localhost/ordervault", "postgresql://localhost/ordervault_keys"),
        ("postgresql://db1.internal/ordervault", "postgresql://db2.internal/ordervault"),
        ("postgresql://localhost:5432/ov", "postgresql://localhost:5433/ov"),
        ("sqlite:////var/ov/data.db", "postgresql://localhost/data.db"),
    ],
)
def test_same_database_tells_different_ones_apart(a: str, b: str) -> None:
    assert not migrate.same_database(a, b)


def test_same_database_follows_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "data.db"
    real.touch()
    (tmp_path / "alias.db").symlink_to(real)
    assert migrate.same_database(f"sqlite:///{real}", f"sqlite:///{tmp_path / 'alias.db'}")


def test_the_other_schema_is_refused(fresh_url: Callable[[str], str]) -> None:
    url = fresh_url("data")
    migrate.upgrade(url, keystore=False)
    with pytest.raises(MigrationError, match="not a revision of the keystore schema"):
        migrate.upgrade(url, keystore=True)
    with pytest.raises(MigrationError, match="not a revision of the keystore schema"):
        migrate.current_revision(url, keystore=True)


def test_keystore_tables_in_an_unversioned_database_are_refused(
    fresh_url: Callable[[str], str],
) -> None:
    url = fresh_url("keys")
    engine = sa.create_engine(url)
    try:
        KeystoreBase.metadata.create_all(engine)
    finally:
        engine.dispose()
    with pytest.raises(MigrationError, match="holds keystore tables"):
        migrate.upgrade(url, keystore=False)

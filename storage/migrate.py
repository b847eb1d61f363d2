"""Upgrade the data database and the key store to the newest schema, from code.

Each database has its own Alembic environment under storage/migrations/. No alembic.ini is
needed: the configuration is built here. An upgrade runs in one transaction, holds a lock so
that two processes starting at once do not both create tables, and on SQLite runs with foreign
keys off (batch mode recreates tables, and dropping a parent table with foreign keys on would
cascade-delete its children); the foreign keys are checked before the commit instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from storage.db import BEGIN_IMMEDIATE, create_engine, is_sqlite
from storage.errors import MigrationError
from storage.keystore_models import KeystoreBase
from storage.models import DataBase

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# pg_advisory_xact_lock key serialising schema upgrades ("ovmigr" in ASCII).
_UPGRADE_LOCK_KEY = 0x6F766D69_6772

_LOOPBACK_HOSTS = {"", "localhost", "127.0.0.1", "::1", "[::1]"}


def alembic_config(*, keystore: bool) -> Config:
    """The Alembic configuration of one environment (for `alembic.command` calls)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR / _env_name(keystore)))
    return config


def head_revision(*, keystore: bool) -> str:
    """The newest revision of the data (or key-store) schema."""
    head = ScriptDirectory.from_config(alembic_config(keystore=keystore)).get_current_head()
    if head is None:
        raise MigrationError(f"no migrations found for the {_env_name(keystore)} schema")
    return head


def upgrade(url: str, *, keystore: bool) -> None:
    """Bring the database at `url` to the newest data (or key-store) schema; idempotent."""
    engine = create_engine(url, keystore=keystore)
    try:
        with engine.connect() as connection:
            if is_sqlite(engine):
                # Outside any transaction, where SQLite honours this pragma. The engine is
                # disposed below, so no pooled connection keeps foreign keys off.
                driver = connection.connection.driver_connection
                driver.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            connection.execution_options(**{BEGIN_IMMEDIATE: True})
            with connection.begin():
                if not is_sqlite(engine):
                    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_UPGRADE_LOCK_KEY)))
                _refuse_other_schema(connection, keystore=keystore, url=url)
                config = alembic_config(keystore=keystore)
                config.attributes["connection"] = connection
                try:
                    command.upgrade(config, "head")
                except CommandError as exc:
                    raise MigrationError(f"cannot upgrade {_safe(url)}: {exc}") from exc
                if is_sqlite(engine):
                    _check_foreign_keys(connection, url)
    finally:
        engine.dispose()


def upgrade_all(data_url: str, keystore_url: str) -> None:
    """Upgrade the data database and the key store, which must be two different databases."""
    if same_database(data_url, keystore_url):
        raise MigrationError(
            "the data database and the key store must be different databases "
            f"(both name {_safe(data_url)}): a backup of the order data must never also "
            "hold the keys that unwrap it"
        )
    upgrade(data_url, keystore=False)
    upgrade(keystore_url, keystore=True)


def current_revision(url: str, *, keystore: bool) -> str | None:
    """The schema revision of the database at `url`, or None if it was never upgraded."""
    engine = create_engine(url, keystore=keystore)
    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            if revision is not None:
                _require_known(revision, keystore=keystore, url=url)
            return revision
    finally:
        engine.dispose()


def same_database(url_a: str, url_b: str) -> bool:
    """Whether two URLs name the same database (whatever driver, alias or path spelling)."""
    a, b = sa.make_url(url_a), sa.make_url(url_b)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        path_a, path_b = a.database or "", b.database or ""
        if path_a in ("", ":memory:") or path_b in ("", ":memory:"):
            return False  # every in-memory connection is a database of its own
        if os.path.exists(path_a) and os.path.exists(path_b):
            return os.path.samefile(path_a, path_b)
        return os.path.realpath(path_a) == os.path.realpath(path_b)
    return _server_key(a) == _server_key(b)


def _server_key(url: sa.URL) -> tuple[str, int | None, str | None]:
    host = (url.host or "").lower()
    # A Unix socket, localhost and the loopback addresses all reach the local server.
    return ("localhost" if host in _LOOPBACK_HOSTS else host, url.port, url.database)


def _refuse_other_schema(connection: sa.Connection, *, keystore: bool, url: str) -> None:
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is not None:
        _require_known(revision, keystore=keystore, url=url)
        return
    other = DataBase.metadata if keystore else KeystoreBase.metadata
    found = set(sa.inspect(connection).get_table_names()) & set(other.tables)
    if found:
        raise MigrationError(
            f"{_safe(url)} holds {_env_name(not keystore)} tables ({', '.join(sorted(found))}); "
            f"refusing to add the {_env_name(keystore)} schema to it"
        )


def _require_known(revision: str, *, keystore: bool, url: str) -> None:
    scripts = ScriptDirectory.from_config(alembic_config(keystore=keystore))
    try:
        scripts.get_revision(revision)
    except CommandError as exc:
        raise MigrationError(
            f"{_safe(url)} is at revision {revision!r}, which is not a revision of the "
            f"{_env_name(keystore)} schema (is this the other database?)"
        ) from exc


def _check_foreign_keys(connection: sa.Connection, url: str) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise MigrationError(
            f"upgrade of {_safe(url)} would break foreign keys in {', '.join(tables)}"
        )


def _env_name(keystore: bool) -> str:
    return "keystore" if keystore else "data"


def _safe(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)

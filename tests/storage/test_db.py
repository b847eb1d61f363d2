"""Engines: SQLite pragmas and real transactions, write transactions, UTC timestamps."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage import StorageError, audit, migrate, orders, outbox
from storage.db import checkpoint_wal, create_engine, session_factory, write_session
from storage.errors import NaiveDatetimeError
from storage.models import SyncCursor
from storage.sqltypes import ensure_utc
from tests.fixtures.databases import MigratedDatabase
from tests.storage.factories import NOW, order_record


def _pragmas(engine: sa.Engine) -> dict[str, object]:
    names = ("foreign_keys", "journal_mode", "busy_timeout", "synchronous", "secure_delete")
    with engine.connect() as connection:
        return {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}


@pytest.mark.parametrize("keystore", [False, True])
def test_sqlite_pragmas(tmp_path: Path, keystore: bool) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", keystore=keystore)
    try:
        pragmas = _pragmas(engine)
    finally:
        engine.dispose()
    assert pragmas["foreign_keys"] == 1
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["busy_timeout"] == 30_000
    assert pragmas["synchronous"] == 1  # NORMAL
    if keystore:  # (some SQLite builds default to secure_delete for every database)
        assert pragmas["secure_delete"] == 1


def _cursor_count(connection: sa.Connection) -> int:
    return connection.execute(sa.select(sa.func.count()).select_from(SyncCursor)).scalar_one()


def _insert_cursor(connection: sa.Connection, stream: str) -> None:
    connection.execute(
        sa.insert(SyncCursor).values(
            client_id="acme",
            marketplace="amazon",
            account="a",
            stream=stream,
            state={},
            updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def test_sqlite_reads_inside_a_transaction_are_repeatable(tmp_path: Path) -> None:
    """pysqlite's legacy mode would not BEGIN before a SELECT and show the second insert."""
    url = f"sqlite:///{tmp_path / 'data.db'}"
    migrate.upgrade(url, keystore=False)
    engine = create_engine(url)
    try:
        with engine.connect() as reader:
            with reader.begin():
                assert _cursor_count(reader) == 0
                with engine.begin() as writer:
                    _insert_cursor(writer, "incremental")
                assert _cursor_count(reader) == 0
            with reader.begin():
                assert _cursor_count(reader) == 1
    finally:
        engine.dispose()


def test_savepoint_rollback_is_part_of_the_transaction(data_db: MigratedDatabase) -> None:
    with data_db.sessions.begin() as session:
        _insert_cursor(session.connection(), "incremental")
        with session.begin_nested() as nested:
            _insert_cursor(session.connection(), "backfill")
            nested.rollback()
    with data_db.engine.connect() as connection:
        assert _cursor_count(connection) == 1


def test_write_session_holds_the_sqlite_write_lock_from_the_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data.db'}"
    migrate.upgrade(url, keystore=False)
    engine = create_engine(url)
    try:
        with write_session(session_factory(engine)) as session:
            session.execute(sa.select(1))  # no write yet
            other = sqlite3.connect(tmp_path / "data.db", timeout=0.05, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
                # Readers are not blocked (WAL).
                assert other.execute("SELECT count(*) FROM orders").fetchone() == (0,)
            finally:
                other.close()
    finally:
        engine.dispose()


def test_checkpoint_empties_the_write_ahead_log(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url, keystore=True)
    engine = create_engine(url, keystore=True)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE scratch (secret BLOB)")
            connection.exec_driver_sql("INSERT INTO scratch VALUES (x'00112233')")
        assert Path(f"{path}-wal").stat().st_size > 0
        assert checkpoint_wal(engine)
        assert Path(f"{path}-wal").stat().st_size == 0
    finally:
        engine.dispose()


def test_timestamps_come_back_aware_utc(data_db: MigratedDatabase) -> None:
    berlin = timezone(timedelta(hours=2))
    written = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=berlin)
    with data_db.sessions.begin() as session:
        session.add(
            SyncCursor(
                client_id="acme",
                marketplace="amazon",
                account="a",
                stream="incremental",
                position_at=written,
                state={"token": "abc"},
                updated_at=written,
            )
        )
    with data_db.sessions() as session:
        cursor = session.scalars(sa.select(SyncCursor)).one()
        # Comparisons run in SQL too: stored UTC text on SQLite still orders correctly.
        later = session.scalars(
            sa.select(SyncCursor).where(
                SyncCursor.position_at > datetime(2026, 6, 1, 12, 30, 16, tzinfo=UTC)
            )
        ).all()
    assert cursor.position_at == written
    assert cursor.position_at is not None
    assert cursor.position_at.tzinfo is UTC
    assert cursor.position_at.hour == 12
    assert later == []


def test_naive_timestamps_are_refused(data_db: MigratedDatabase) -> None:
    naive = datetime(2026, 1, 1)
    with data_db.sessions() as session:
        statement = sa.update(SyncCursor).values(updated_at=naive)
        with pytest.raises(sa.exc.StatementError) as raised:
            session.execute(statement)
    assert isinstance(raised.value.orig, NaiveDatetimeError)
    with pytest.raises(NaiveDatetimeError):
        ensure_utc(naive)


def test_read_then_write_operations_demand_a_write_session_on_sqlite(
    data_db: MigratedDatabase,
) -> None:
    def attempts(session: Session) -> list[Callable[[], object]]:
        return [
            lambda: orders.upsert_order(session, order_record(), ["erp"], NOW),
            lambda: audit.append(session, actor="a", action="b", subject={}, details={}, now=NOW),
            lambda: outbox.claim(session, now=NOW, lease_s=60, worker_id="w", limit=1),
        ]

    for attempt in range(3):
        with data_db.sessions() as session:
            run = attempts(session)[attempt]
            if data_db.dialect == "sqlite":
                with pytest.raises(StorageError, match="write_session"):
                    run()
            else:
                run()  # row locks and advisory locks do the work on PostgreSQL
    for attempt in range(3):
        with write_session(data_db.sessions) as session:
            attempts(session)[attempt]()

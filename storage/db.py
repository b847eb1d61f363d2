"""Engines and sessions: SQLite pragmas, real SQLite transactions, and write transactions.

SQLite is the embedded default and PostgreSQL the production database; everything above this
module is written once for both. Two SQLite quirks are fixed here:

* pysqlite's legacy transaction handling does not BEGIN before a SELECT, so reads are not
  repeatable and DDL autocommits. Following SQLAlchemy's documented recipe, the driver's own
  handling is switched off and SQLAlchemy's `begin` event emits BEGIN itself.
* A deferred BEGIN takes the write lock only at the first write. A transaction that reads and
  then writes (an outbox claim, an upsert, an audit append) can then fail with "database is
  locked" when another writer committed in between. `write_session` starts such transactions
  with BEGIN IMMEDIATE, which waits (up to the busy timeout) for the write lock up front.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageError

# Execution option that makes the SQLite `begin` hook emit BEGIN IMMEDIATE.
BEGIN_IMMEDIATE = "ordervault_begin_immediate"

BUSY_TIMEOUT_MS = 30_000


def is_sqlite(bind: sa.Engine | sa.Connection | Session) -> bool:
    """True when `bind` talks to SQLite."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, keystore: bool = False) -> sa.Engine:
    """Build an engine for the data database, or for the key store with `keystore=True`."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pool_pre_ping: workers hold engines for days; a restarted server must not surface as
        # one failed job per pooled connection.
        return sa.create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        # A fresh deployment has no var/ yet; SQLite creates the file but not its folder.
        Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = sa.create_engine(parsed)
    _configure_sqlite(engine, keystore=keystore)
    return engine


def _configure_sqlite(engine: sa.Engine, *, keystore: bool) -> None:
    pragmas = [
        "PRAGMA foreign_keys=ON",
        # WAL: readers never block the writer, and the writer never blocks readers.
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        # NORMAL is durable across application crashes in WAL mode; only an OS crash or power
        # loss can drop the last commits, which the pipeline replays from the marketplace.
        "PRAGMA synchronous=NORMAL",
    ]
    if keystore:
        # Deleted key bytes are overwritten with zeros instead of lingering in free pages.
        pragmas.append("PRAGMA secure_delete=ON")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (the `begin` hook below); this also keeps
        # the pragmas outside any transaction, where SQLite would ignore some of them.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(BEGIN_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit (no reload round trip)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def write_session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside a transaction that holds the write lock from its first statement.

    Commits when the block ends, rolls back on an exception. On SQLite the transaction starts
    with BEGIN IMMEDIATE (one writer at a time, waiting up to the busy timeout); on PostgreSQL
    it is an ordinary READ COMMITTED transaction and row locks do the work.
    """
    with sessions() as session, session.begin():
        # The option must be set before the session's connection begins, i.e. before any
        # statement: it is read by the `begin` hook when the connection is first used.
        session.connection(execution_options={BEGIN_IMMEDIATE: True})
        yield session


def require_write_lock(session: Session, operation: str) -> None:
    """Refuse to run a read-then-write `operation` on SQLite outside `write_session`.

    In a deferred SQLite transaction the read takes a snapshot, and the later write fails with
    "database is locked" whenever another writer committed in between: only under load, so
    rarely in tests. Failing every time instead makes the mistake visible at once.
    """
    if not is_sqlite(session):
        return
    if not session.connection().get_execution_options().get(BEGIN_IMMEDIATE, False):
        raise StorageError(
            f"{operation} reads then writes: on SQLite run it inside storage.db.write_session "
            "(BEGIN IMMEDIATE), so the transaction holds the write lock from its start"
        )


def checkpoint_wal(engine: sa.Engine) -> bool:
    """Copy SQLite's write-ahead log into the database file and truncate the log to zero bytes.

    After destroying key material this leaves no old page image with key bytes in the -wal
    file. Returns False if a reader still needed the log, so it could not be emptied (try
    again later). Always True on PostgreSQL, where there is nothing to do.
    """
    if not is_sqlite(engine):
        return True
    with engine.connect() as connection:
        # Outside a transaction: a checkpoint cannot run inside one.
        driver = connection.connection.driver_connection
        busy, _log_frames, _copied_frames = driver.execute(  # type: ignore[union-attr]
            "PRAGMA wal_checkpoint(TRUNCATE)"
        ).fetchone()
    return int(busy) == 0

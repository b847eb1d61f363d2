"""The key store repository: `crypto.keystore.KeyStore` on the `bucket_keys`, `index_keys` and
`root_rotations` tables (storage/keystore_models.py).

Creation is insert-or-read-back (INSERT ... ON CONFLICT DO NOTHING, then SELECT), so processes
racing to create the same bucket or index key all end up with the one row stored.

Destroying a bucket NULLs its wrapped key in a transaction with SQLite's secure_delete on (the
freed bytes are overwritten with zeros), then checkpoints the write-ahead log with TRUNCATE so no
older page image holding the wrapped key survives in the -wal file. On PostgreSQL, MVCC keeps the
old row version until VACUUM and WAL archives keep it longer: there the guarantee rests on the
root key: rotate it and discard the old one (crypto/rotation.py) to kill every old copy.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from crypto.errors import KeyStoreError
from crypto.keystore import (
    ACTIVE,
    DESTROYED,
    ROTATION_FINISHED,
    ROTATION_RUNNING,
    BucketKeyRow,
    IndexKeyRow,
    RootRotationRow,
)
from crypto.records import KeyStatus

if TYPE_CHECKING:
    from crypto.keystore import KeyStore
from storage.db import is_sqlite, session_factory, write_session
from storage.keystore_models import BucketKey, IndexKey, RootRotation
from storage.statements import insert_on_conflict, rowcount

__all__ = ["SqlKeyStore"]

# A checkpoint waits for readers through SQLite's busy handler; if readers still pin old WAL
# frames after that, we try again a few times before reporting the scrub as unfinished.
_CHECKPOINT_ATTEMPTS = 3


def _bucket_row(model: BucketKey) -> BucketKeyRow:
    return BucketKeyRow(
        client_id=model.client_id,
        day=model.day,
        key_id=model.key_id,
        root_key_id=model.root_key_id,
        wrapped_key=model.wrapped_key,
        commitment=model.commitment,
        state=model.state,
        created_at=model.created_at,
        destroyed_at=model.destroyed_at,
    )


def _index_row(model: IndexKey) -> IndexKeyRow:
    return IndexKeyRow(
        client_id=model.client_id,
        key_id=model.key_id,
        root_key_id=model.root_key_id,
        wrapped_key=model.wrapped_key,
        created_at=model.created_at,
    )


def _rotation_row(model: RootRotation) -> RootRotationRow:
    return RootRotationRow(
        id=model.id,
        started_at=model.started_at,
        finished_at=model.finished_at,
        from_root_key_id=model.from_root_key_id,
        to_root_key_id=model.to_root_key_id,
        state=model.state,
    )


class SqlKeyStore:
    """`crypto.KeyStore` on SQLAlchemy.

    Build the engine with `storage.create_engine(url, keystore=True)` (WAL, secure_delete).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._sessions: sessionmaker[Session] = session_factory(engine)

    def __repr__(self) -> str:
        return f"SqlKeyStore({self._engine.url.render_as_string(hide_password=True)!r})"

    # --- bucket keys ---------------------------------------------------------------------------

    def bucket_for_day(self, client_id: str, day: date) -> BucketKeyRow | None:
        with self._sessions() as session:
            model = session.scalars(
                sa.select(BucketKey).where(BucketKey.client_id == client_id, BucketKey.day == day)
            ).one_or_none()
            return None if model is None else _bucket_row(model)

    def bucket_by_key_id(self, key_id: str) -> BucketKeyRow | None:
        with self._sessions() as session:
            model = session.scalars(
                sa.select(BucketKey).where(BucketKey.key_id == key_id)
            ).one_or_none()
            return None if model is None else _bucket_row(model)

    def add_bucket(self, row: BucketKeyRow) -> BucketKeyRow:
        with write_session(self._sessions) as session:
            session.execute(
                insert_on_conflict(session, BucketKey)
                .values(
                    client_id=row.client_id,
                    day=row.day,
                    key_id=row.key_id,
                    root_key_id=row.root_key_id,
                    wrapped_key=row.wrapped_key,
                    commitment=row.commitment,
                    state=row.state,
                    created_at=row.created_at,
                    destroyed_at=row.destroyed_at,
                )
                .on_conflict_do_nothing()
            )
            stored = session.scalars(
                sa.select(BucketKey).where(
                    BucketKey.client_id == row.client_id, BucketKey.day == row.day
                )
            ).one_or_none()
            if stored is None:
                # The conflict was on key_id (128 random bits): a broken random source.
                raise KeyStoreError(f"bucket key_id {row.key_id} is already taken")
            return _bucket_row(stored)

    def destroy_bucket(self, client_id: str, day: date, destroyed_at: datetime) -> BucketKeyRow:
        with write_session(self._sessions) as session:
            if is_sqlite(session):
                # Whatever engine we were given: freed key bytes must be zeroed, not left free.
                session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
            model = session.scalars(
                sa.select(BucketKey)
                .where(BucketKey.client_id == client_id, BucketKey.day == day)
                .with_for_update()
            ).one_or_none()
            if model is None:
                raise KeyStoreError(f"no bucket key for client {client_id!r} on {day}")
            if model.state != DESTROYED:
                model.wrapped_key = None
                model.state = DESTROYED
                model.destroyed_at = destroyed_at
            row = _bucket_row(model)
        self._scrub()
        return row

    def _scrub(self) -> None:
        """Leave no page image of a destroyed wrapped key in SQLite's files."""
        if self._engine.dialect.name != "sqlite":
            return
        with self._engine.connect() as connection:
            # The driver connection directly: a checkpoint must run outside any transaction,
            # and the SQLAlchemy connection would BEGIN first.
            driver = connection.connection.driver_connection
            assert driver is not None
            for _attempt in range(_CHECKPOINT_ATTEMPTS):
                busy, _log_frames, _done = driver.execute(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).fetchone()
                if busy == 0:
                    return
        raise KeyStoreError(
            "bucket key destroyed, but readers kept the key store's write-ahead log from being"
            " truncated; destroy again (it is idempotent) to finish scrubbing"
        )

    def buckets_due(self, through_day: date) -> list[tuple[str, date]]:
        with self._sessions() as session:
            rows = session.execute(
                sa.select(BucketKey.client_id, BucketKey.day)
                .where(BucketKey.state == ACTIVE, BucketKey.day <= through_day)
                .order_by(BucketKey.day, BucketKey.client_id)
            )
            return [(client_id, day) for client_id, day in rows]

    def key_status(self, client_id: str) -> KeyStatus:
        with self._sessions() as session:
            counts: dict[str, int] = dict(
                session.execute(
                    sa.select(BucketKey.state, sa.func.count())
                    .where(BucketKey.client_id == client_id)
                    .group_by(BucketKey.state)
                ).all()
            )
            next_day = session.scalar(
                sa.select(sa.func.min(BucketKey.day)).where(
                    BucketKey.client_id == client_id, BucketKey.state == ACTIVE
                )
            )
        return KeyStatus(
            client_id=client_id,
            active_buckets=counts.get(ACTIVE, 0),
            destroyed_buckets=counts.get(DESTROYED, 0),
            next_destruction_day=next_day,
        )

    # --- index keys ----------------------------------------------------------------------------

    def index_key(self, client_id: str) -> IndexKeyRow | None:
        with self._sessions() as session:
            model = session.get(IndexKey, client_id)
            return None if model is None else _index_row(model)

    def add_index_key(self, row: IndexKeyRow) -> IndexKeyRow:
        with write_session(self._sessions) as session:
            session.execute(
                insert_on_conflict(session, IndexKey)
                .values(
                    client_id=row.client_id,
                    key_id=row.key_id,
                    root_key_id=row.root_key_id,
                    wrapped_key=row.wrapped_key,
                    created_at=row.created_at,
                )
                .on_conflict_do_nothing()
            )
            stored = session.get(IndexKey, row.client_id)
            if stored is None:
                raise KeyStoreError(f"index key_id {row.key_id} is already taken")
            return _index_row(stored)

    def destroy_index_key(self, client_id: str) -> bool:
        with write_session(self._sessions) as session:
            if is_sqlite(session):
                session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
            result = session.execute(sa.delete(IndexKey).where(IndexKey.client_id == client_id))
        self._scrub()
        return rowcount(result) == 1

    # --- root rotation -------------------------------------------------------------------------

    def buckets_wrapped_under(self, root_key_id: str, limit: int) -> list[BucketKeyRow]:
        with self._sessions() as session:
            models = session.scalars(
                sa.select(BucketKey)
                .where(
                    BucketKey.root_key_id == root_key_id,
                    BucketKey.state == ACTIVE,
                    BucketKey.wrapped_key.is_not(None),
                )
                .order_by(BucketKey.id)
                .limit(limit)
            )
            return [_bucket_row(model) for model in models]

    def index_keys_wrapped_under(self, root_key_id: str, limit: int) -> list[IndexKeyRow]:
        with self._sessions() as session:
            models = session.scalars(
                sa.select(IndexKey)
                .where(IndexKey.root_key_id == root_key_id)
                .order_by(IndexKey.client_id)
                .limit(limit)
            )
            return [_index_row(model) for model in models]

    def replace_bucket_wrapping(
        self, key_id: str, from_root_key_id: str, to_root_key_id: str, wrapped_key: bytes
    ) -> bool:
        with write_session(self._sessions) as session:
            result = session.execute(
                sa.update(BucketKey)
                .where(
                    BucketKey.key_id == key_id,
                    BucketKey.root_key_id == from_root_key_id,
                    BucketKey.state == ACTIVE,
                )
                .values(root_key_id=to_root_key_id, wrapped_key=wrapped_key)
            )
            return rowcount(result) == 1

    def replace_index_key_wrapping(
        self, client_id: str, from_root_key_id: str, to_root_key_id: str, wrapped_key: bytes
    ) -> bool:
        with write_session(self._sessions) as session:
            result = session.execute(
                sa.update(IndexKey)
                .where(IndexKey.client_id == client_id, IndexKey.root_key_id == from_root_key_id)
                .values(root_key_id=to_root_key_id, wrapped_key=wrapped_key)
            )
            return rowcount(result) == 1

    def count_wrapped_under(self, root_key_id: str) -> int:
        with self._sessions() as session:
            buckets = session.scalar(
                sa.select(sa.func.count())
                .select_from(BucketKey)
                .where(BucketKey.root_key_id == root_key_id, BucketKey.wrapped_key.is_not(None))
            )
            index_keys = session.scalar(
                sa.select(sa.func.count())
                .select_from(IndexKey)
                .where(IndexKey.root_key_id == root_key_id)
            )
        return (buckets or 0) + (index_keys or 0)

    def running_rotations(self) -> list[RootRotationRow]:
        with self._sessions() as session:
            models = session.scalars(
                sa.select(RootRotation)
                .where(RootRotation.state == ROTATION_RUNNING)
                .order_by(RootRotation.id)
            )
            return [_rotation_row(model) for model in models]

    def start_rotation(
        self, from_root_key_id: str, to_root_key_id: str, started_at: datetime
    ) -> RootRotationRow:
        with write_session(self._sessions) as session:
            model = RootRotation(
                started_at=started_at,
                finished_at=None,
                from_root_key_id=from_root_key_id,
                to_root_key_id=to_root_key_id,
                state=ROTATION_RUNNING,
            )
            session.add(model)
            session.flush()
            return _rotation_row(model)

    def finish_rotation(self, rotation_id: int, finished_at: datetime) -> None:
        with write_session(self._sessions) as session:
            session.execute(
                sa.update(RootRotation)
                .where(RootRotation.id == rotation_id, RootRotation.state == ROTATION_RUNNING)
                .values(state=ROTATION_FINISHED, finished_at=finished_at)
            )


if TYPE_CHECKING:

    def _implements_protocol(store: SqlKeyStore) -> KeyStore:
        return store  # mypy checks here that SqlKeyStore matches crypto's KeyStore Protocol

"""The hash-chained audit log: the chain's format, tamper detection, concurrent appends."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from storage import audit
from storage.db import write_session
from storage.errors import NaiveDatetimeError
from storage.models import AuditEvent
from tests.fixtures.databases import MigratedDatabase
from tests.storage.concurrency import run_concurrently
from tests.storage.factories import NOW


def _append(db: MigratedDatabase, n: int, *, actor: str = "scheduler") -> AuditEvent:
    with write_session(db.sessions) as session:
        return audit.append(
            session,
            actor=actor,
            action="bucket.destroyed",
            client_id="acme",
            subject={"bucket_day": "2026-04-05", "n": n},
            details={"orders_shredded": n * 10},
            now=NOW + timedelta(seconds=n),
        )


def _log_of(db: MigratedDatabase, count: int) -> None:
    for n in range(1, count + 1):
        _append(db, n)


def _verify(db: MigratedDatabase, batch_size: int = 1000) -> audit.VerifyResult:
    with db.sessions() as session:
        return audit.verify(session, batch_size=batch_size)


def test_first_event_hash_known_answer(data_db: MigratedDatabase) -> None:
    """Pins the chain format: anyone can re-check the log with sha256 and a JSON encoder."""
    event = _append(data_db, 1)
    canonical = (
        '{"action":"bucket.destroyed","actor":"scheduler","client_id":"acme",'
        '"details":{"orders_shredded":10},"id":1,"occurred_at":"2026-03-01T12:00:01.000000Z",'
        '"subject":{"bucket_day":"2026-04-05","n":1}}'
    )
    assert event.id == 1
    assert event.prev_hash == "0" * 64
    assert event.hash == hashlib.sha256(("0" * 64 + canonical).encode()).hexdigest()


def test_events_link_and_verify(data_db: MigratedDatabase) -> None:
    _log_of(data_db, 5)
    with data_db.sessions() as session:
        events = list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
        assert audit.head(session) == (5, events[-1].hash)
    assert [e.id for e in events] == [1, 2, 3, 4, 5]
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert all(e.occurred_at.utcoffset() == timedelta(0) for e in events)
    assert _verify(data_db) == audit.VerifyResult(ok=True, checked=5)
    assert _verify(data_db, batch_size=2) == audit.VerifyResult(ok=True, checked=5)


def test_empty_log_verifies(data_db: MigratedDatabase) -> None:
    assert _verify(data_db) == audit.VerifyResult(ok=True, checked=0)


def test_values_are_hashed_as_they_read_back(data_db: MigratedDatabase) -> None:
    with write_session(data_db.sessions) as session:
        event = audit.append(
            session,
            actor="cli",
            action="dsar.export",
            subject={"order_ids": (3, 1, 2), 7: "int key"},
            details={"ratio": 0.1, "note": "ünïcode"},
            now=NOW,
        )
    assert event.subject == {"order_ids": [3, 1, 2], "7": "int key"}
    assert _verify(data_db).ok


@pytest.mark.parametrize(
    "value",
    [
        {"order_ids": [3, 1, 2], "versions": [1, 1, 2], "bucket_days": ["2026-01-01"]},
        {"outcome": "ok", "orders": 3, "dry_run": False, "note": None, "empty": []},
        {"order_ids": (3, 1)},  # a tuple: the round trip makes it a list
        {7: "int key"},
        {"flag": [True, None, "x", 2]},
        {"nested": {"a": [1]}},
        {"deep": [[1], {"a": 1}]},
        {"ratio": 0.5},
    ],
)
def test_values_are_stored_as_a_json_round_trip_gives_them_back(value: dict[Any, Any]) -> None:
    stored = audit._as_stored(value)
    assert stored == json.loads(json.dumps(value))
    # Same types too (True stays a bool, not 1), and never the caller's own lists.
    assert audit.canonical_json(stored) == audit.canonical_json(json.loads(json.dumps(value)))
    for key, item in stored.items():
        if isinstance(item, list):
            assert item is not value.get(key)


def test_non_json_values_are_refused(data_db: MigratedDatabase) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"), data_db.sessions.begin() as session:
        audit.append(
            session, actor="a", action="b", subject={}, details={"x": float("nan")}, now=NOW
        )
    with pytest.raises(NaiveDatetimeError), data_db.sessions.begin() as session:
        audit.append(
            session, actor="a", action="b", subject={}, details={}, now=NOW.replace(tzinfo=None)
        )


def _edit(connection: sa.Connection) -> None:
    connection.execute(
        sa.update(AuditEvent).where(AuditEvent.id == 3).values(details={"orders_shredded": 0})
    )


def _edit_and_rehash(connection: sa.Connection) -> None:
    """An editor who also recomputes the edited event's own hash."""
    row = connection.execute(sa.select(AuditEvent).where(AuditEvent.id == 3)).one()
    forged = audit.event_hash(
        row.prev_hash,
        event_id=3,
        occurred_at=row.occurred_at,
        actor="someone-else",
        action=row.action,
        client_id=row.client_id,
        subject=row.subject,
        details=row.details,
    )
    connection.execute(
        sa.update(AuditEvent).where(AuditEvent.id == 3).values(actor="someone-else", hash=forged)
    )


def _delete(connection: sa.Connection) -> None:
    connection.execute(sa.delete(AuditEvent).where(AuditEvent.id == 3))


def _delete_first(connection: sa.Connection) -> None:
    connection.execute(sa.delete(AuditEvent).where(AuditEvent.id == 1))


def _swap(connection: sa.Connection) -> None:
    """Reorder events 3 and 4 by swapping their ids."""
    for old, new in ((3, -1), (4, 3), (-1, 4)):
        connection.execute(sa.update(AuditEvent).where(AuditEvent.id == old).values(id=new))


def _insert_before_start(connection: sa.Connection) -> None:
    row = connection.execute(sa.select(AuditEvent).where(AuditEvent.id == 1)).one()
    connection.execute(
        sa.insert(AuditEvent).values(
            {**row._asdict(), "id": 0, "hash": "f" * 64, "prev_hash": "0" * 64}
        )
    )


@pytest.mark.parametrize(
    ("tamper", "first_bad_id", "checked", "reason"),
    [
        (_edit, 3, 2, "hash does not match"),
        (_edit_and_rehash, 4, 3, "prev_hash does not match"),
        (_delete, 4, 2, "events 3..3 are missing"),
        (_delete_first, 2, 0, "events 1..1 are missing"),
        (_swap, 3, 2, "hash does not match"),
        (_insert_before_start, 0, 0, "out of sequence"),
    ],
)
def test_tampering_is_detected_where_it_happened(
    data_db: MigratedDatabase,
    tamper: Callable[[sa.Connection], None],
    first_bad_id: int,
    checked: int,
    reason: str,
) -> None:
    _log_of(data_db, 6)
    with data_db.engine.begin() as connection:
        tamper(connection)

    for batch_size in (1000, 2, 3):  # across batch boundaries too
        result = _verify(data_db, batch_size=batch_size)
        assert not result.ok
        assert result.first_bad_id == first_bad_id
        assert result.reason is not None
        assert reason in result.reason
        assert result.checked == checked


def test_concurrent_appends_extend_one_chain(data_db: MigratedDatabase) -> None:
    def appender(index: int) -> list[int]:
        return [_append(data_db, n, actor=f"worker-{index}").id for n in range(8)]

    ids = [i for mine in run_concurrently(appender, 4) for i in mine]

    assert sorted(ids) == list(range(1, 33))
    assert _verify(data_db) == audit.VerifyResult(ok=True, checked=32)


_JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text()
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    actor=st.text(),
    action=st.text(),
    client_id=st.none() | st.text(),
    subject=st.dictionaries(st.text(), _JSON, max_size=4),
    details=st.dictionaries(st.text(), _JSON, max_size=4),
    event_id=st.integers(min_value=1, max_value=2**63 - 1),
    microseconds=st.integers(min_value=0, max_value=10**12),
)
def test_the_body_around_the_id_is_the_canonical_json_of_the_event(
    actor: str,
    action: str,
    client_id: str | None,
    subject: dict[str, Any],
    details: dict[str, Any],
    event_id: int,
    microseconds: int,
) -> None:
    """The text the chain's function completes with the id is exactly the hashed body."""
    occurred_at = NOW + timedelta(microseconds=microseconds)
    body = audit._EventBody.of(occurred_at, actor, action, client_id, subject, details)
    whole = {
        "id": event_id,
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "client_id": client_id,
        "subject": subject,
        "details": details,
    }
    assert body.before_id + str(event_id) + body.after_id == audit.canonical_json(whole)


def test_the_database_hashes_text_beyond_ascii_as_the_chain_defines(
    data_db: MigratedDatabase,
) -> None:
    """On PostgreSQL the function hashes the UTF-8 bytes; `event_hash` must agree."""
    odd = 'Zoë "quoted" \\ back\tslash \u2028 🙂 \x01'
    with write_session(data_db.sessions) as session:
        first = audit.append(
            session,
            actor=odd,
            action="decrypt",
            client_id="acme",
            subject={odd: [odd, 1, None, True]},
            details={"nested": {"z": odd, "a": [1, 2]}, "é": "ü"},
            now=NOW,
        )
        second = audit.append(
            session, actor="worker", action="forward", subject={}, details={}, now=NOW
        )
    assert (first.id, second.id, second.prev_hash) == (1, 2, first.hash)
    for event in (first, second):
        assert event.hash == audit.event_hash(
            event.prev_hash,
            event_id=event.id,
            occurred_at=event.occurred_at,
            actor=event.actor,
            action=event.action,
            client_id=event.client_id,
            subject=event.subject,
            details=event.details,
        )
    assert _verify(data_db) == audit.VerifyResult(ok=True, checked=2)


def test_an_append_waits_for_the_chain_lock(postgres_data_db: MigratedDatabase) -> None:
    """PostgreSQL: the chain's function takes the advisory lock that guards the head (SQLite
    serialises appends with its database write lock)."""
    data_db = postgres_data_db
    holder = data_db.engine.connect()
    try:
        holder.execute(sa.select(sa.func.pg_advisory_xact_lock(audit._CHAIN_LOCK_KEY)))
        with data_db.sessions() as session:
            session.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                audit.append(session, actor="a", action="b", subject={}, details={}, now=NOW)
            session.rollback()
    finally:
        holder.rollback()
        holder.close()
    assert _append(data_db, 1).id == 1  # the failed append left nothing behind


def _append_at_commit(session: Any, n: int) -> None:
    audit.append_at_commit(
        session,
        actor="worker:w1",
        action="forward",
        client_id="acme",
        subject={"delivery_ids": [n], "order_ids": [n]},
        details={"destination": "erp", "outcome": "delivered"},
        now=NOW + timedelta(seconds=n),
    )


def test_events_appended_at_commit_extend_the_chain_with_the_transaction(
    data_db: MigratedDatabase,
) -> None:
    _append(data_db, 1)
    with write_session(data_db.sessions) as session:
        _append_at_commit(session, 2)
        _append_at_commit(session, 3)
        session.execute(sa.text("SELECT 1"))  # work after the call still precedes the events
    _append(data_db, 4)
    with data_db.sessions() as session:
        rows = session.execute(sa.select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        assert [(e.id, e.subject.get("n", e.subject.get("order_ids"))) for e in rows] == [
            (1, 1),
            (2, [2]),
            (3, [3]),
            (4, 4),
        ]
    assert _verify(data_db) == audit.VerifyResult(ok=True, checked=4)


def test_events_appended_at_commit_go_with_a_rolled_back_transaction(
    data_db: MigratedDatabase,
) -> None:
    def work_that_fails() -> None:
        with write_session(data_db.sessions) as session:
            _append_at_commit(session, 1)
            raise RuntimeError("after the append")

    with pytest.raises(RuntimeError, match="after the append"):
        work_that_fails()
    with write_session(data_db.sessions) as session:  # the same sessionmaker, a new session
        session.execute(sa.text("SELECT 1"))
    _append(data_db, 2)
    assert _verify(data_db) == audit.VerifyResult(ok=True, checked=1)


def test_a_failed_append_at_commit_commits_nothing(postgres_data_db: MigratedDatabase) -> None:
    """The event and the COMMIT share a pipeline: an append that fails leaves no half."""
    data_db = postgres_data_db
    holder = data_db.engine.connect()
    try:
        holder.execute(sa.select(sa.func.pg_advisory_xact_lock(audit._CHAIN_LOCK_KEY)))
        session = data_db.sessions()
        try:
            session.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
            # Work of the same transaction, which must not outlive the failed append.
            session.execute(sa.text("CREATE TABLE canary_work (n INT)"))
            _append_at_commit(session, 1)
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                session.commit()
            session.rollback()
        finally:
            session.close()
    finally:
        holder.rollback()
        holder.close()
    with data_db.engine.connect() as connection:
        assert not sa.inspect(connection).has_table("canary_work")
    assert _verify(data_db) == audit.VerifyResult(ok=True, checked=0)

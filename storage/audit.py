"""The audit log: append-only, hash-chained, no PII (subjects are ids, details are facts).

Each event's hash is SHA-256 over the previous event's hash followed by a canonical JSON of the
event (id, time, actor, action, client, subject, details), so editing, deleting or reordering
any stored event breaks the chain at that point and `verify` names where. Removing events from
the end of the log cannot be seen from the log alone: compare the head (`head`) with a copy
kept elsewhere, such as the last audit report.

Ids are 1, 2, 3... with no gaps, assigned under a lock so concurrent appends from several
processes extend one chain instead of forking it: on PostgreSQL a server-side function
(migration data_0005) takes a transaction-scoped advisory lock, reads the head and inserts the
event in one call; SQLite holds its database write lock (call `append` in a
`storage.db.write_session`). `append_at_commit`, for the hot paths, sends the event with the
transaction's COMMIT instead, so on PostgreSQL the lock is held for no step of the client's.
Should a caller skip the lock, the primary key on id still turns a fork into a failed
transaction rather than a second chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from psycopg import Pipeline
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from storage.db import is_sqlite, require_write_lock
from storage.models import AuditEvent
from storage.sqltypes import ensure_utc

GENESIS_HASH = "0" * 64

# pg_advisory_xact_lock key guarding the chain's head ("ovaudit" in ASCII).
_CHAIN_LOCK_KEY = 0x6F76_6175_6469_74


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text, no NaN: one spelling per value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def event_hash(
    prev_hash: str,
    *,
    event_id: int,
    occurred_at: datetime,
    actor: str,
    action: str,
    client_id: str | None,
    subject: Mapping[str, Any],
    details: Mapping[str, Any],
) -> str:
    body = _EventBody.of(occurred_at, actor, action, client_id, subject, details)
    return body.hash(prev_hash, event_id)


@dataclass(frozen=True)
class _EventBody:
    """An event's canonical JSON, but for its id: the text before the id's digits and after.

    The body hashed is the canonical JSON of {id, occurred_at, actor, action, client, subject,
    details}. Its keys sort as action, actor, client_id, details, id, occurred_at, subject, so
    the id's digits sit between the first four members and the last two: on PostgreSQL the
    chain's function, which alone knows the id, puts them there. Built member by member, as
    `canonical_json` would spell the whole (a test holds the two equal), so the subject and
    details are serialised once and the same text is what the columns store.
    """

    subject_json: str
    details_json: str
    before_id: str
    after_id: str

    @classmethod
    def of(
        cls,
        occurred_at: datetime,
        actor: str,
        action: str,
        client_id: str | None,
        subject: Mapping[str, Any],
        details: Mapping[str, Any],
    ) -> _EventBody:
        subject_json, details_json = canonical_json(subject), canonical_json(details)
        moment = ensure_utc(occurred_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        before_id = (
            f'{{"action":{canonical_json(action)},"actor":{canonical_json(actor)},'
            f'"client_id":{canonical_json(client_id)},"details":{details_json},"id":'
        )
        after_id = f',"occurred_at":{canonical_json(moment)},"subject":{subject_json}}}'
        return cls(subject_json, details_json, before_id, after_id)

    def hash(self, prev_hash: str, event_id: int) -> str:
        text = prev_hash + self.before_id + str(event_id) + self.after_id
        return hashlib.sha256(text.encode()).hexdigest()


# Values a JSON round trip gives back unchanged, as the same type.
_SCALARS = frozenset({str, int, bool, type(None)})


def _as_stored(value: Mapping[str, Any]) -> dict[str, Any]:
    # Hash exactly what a later read returns: JSON turns tuples into lists and int keys into
    # strings (which also sort differently), so round-trip first (unsorted: mixed int and str
    # keys cannot be sorted before they are all strings).
    if type(value) is dict and all(_is_stored(key, item) for key, item in value.items()):
        # Already what the round trip would give (a worker's lists of ids): copied, not
        # encoded and parsed again, which cost more than the rest of the append's Python.
        return {key: list(item) if type(item) is list else item for key, item in value.items()}
    stored = json.loads(json.dumps(value, ensure_ascii=False, allow_nan=False))
    if not isinstance(stored, dict):
        raise TypeError("subject and details must be JSON objects")
    return stored


def _is_stored(key: Any, item: Any) -> bool:
    """A str key with a scalar or a flat list of scalars: JSON gives it back as it is."""
    if type(key) is not str:
        return False
    if type(item) is list:
        return all(type(element) in _SCALARS for element in item)
    return type(item) in _SCALARS


# Built once: statement construction costs more than the statements' work on the server.
_EVENTS = cast(sa.Table, AuditEvent.__table__)
_HEAD = sa.select(_EVENTS.c.id, _EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)
_INSERT = sa.insert(_EVENTS)
# PostgreSQL: lock, head read and insert in one server-side call (migration data_0005 says
# why); the lock is the transaction-scoped advisory lock `_CHAIN_LOCK_KEY`. psycopg's own
# placeholders: `append` runs it at once, `append_at_commit` in the COMMIT's pipeline.
_APPEND_FUNCTION = (
    "SELECT event_id, event_prev_hash, event_hash FROM ordervault_audit_append("
    "%(occurred_at)s, %(actor)s, %(action)s, %(client_id)s, %(subject)s, %(details)s,"
    " %(body_before_id)s, %(body_after_id)s)"
)


def _new_event(
    actor: str,
    action: str,
    client_id: str | None,
    subject: Mapping[str, Any],
    details: Mapping[str, Any],
    now: datetime,
) -> tuple[dict[str, Any], _EventBody]:
    """An event's columns but for its place in the chain (id, hashes), and its body."""
    occurred_at = ensure_utc(now)
    subject_stored, details_stored = _as_stored(subject), _as_stored(details)
    body = _EventBody.of(occurred_at, actor, action, client_id, subject_stored, details_stored)
    values: dict[str, Any] = {
        "occurred_at": occurred_at,
        "actor": actor,
        "action": action,
        "client_id": client_id,
        "subject": subject_stored,
        "details": details_stored,
    }
    return values, body


def _function_arguments(values: Mapping[str, Any], body: _EventBody) -> dict[str, Any]:
    """`_APPEND_FUNCTION`'s parameters: the JSON columns as the text the body hashes."""
    return {
        **values,
        "subject": body.subject_json,
        "details": body.details_json,
        "body_before_id": body.before_id.encode(),
        "body_after_id": body.after_id.encode(),
    }


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    client_id: str | None = None,
    subject: Mapping[str, Any],
    details: Mapping[str, Any],
    now: datetime,
) -> AuditEvent:
    """Add one event at the head of the chain, in the caller's transaction.

    Returns the event as written (not attached to `session`). On PostgreSQL the chain's lock
    is then held until the caller's transaction ends: append last, just before committing.
    """
    values, body = _new_event(actor, action, client_id, subject, details, now)
    require_write_lock(session, "audit.append")
    if not is_sqlite(session):
        arguments = _function_arguments(values, body)
        row = session.connection().exec_driver_sql(_APPEND_FUNCTION, arguments).one()
        values.update(id=row.event_id, prev_hash=row.event_prev_hash, hash=row.event_hash)
        return AuditEvent(**values)
    # SQLite: the caller's write_session holds the database's write lock.
    head = session.execute(_HEAD).one_or_none()
    event_id, prev_hash = (1, GENESIS_HASH) if head is None else (head.id + 1, head.hash)
    values.update(id=event_id, prev_hash=prev_hash, hash=body.hash(prev_hash, event_id))
    # A Core insert: an ORM add and flush of one row cost several times the statement.
    session.execute(_INSERT, values)
    return AuditEvent(**values)


# Events `append_at_commit` holds for the session's transaction, as the function's arguments.
_AT_COMMIT = "ordervault_audit_at_commit"


def append_at_commit(
    session: Session,
    *,
    actor: str,
    action: str,
    client_id: str | None = None,
    subject: Mapping[str, Any],
    details: Mapping[str, Any],
    now: datetime,
) -> None:
    """`append`, written as the caller's transaction commits, or not at all if it does not.

    On PostgreSQL the event goes to the server with the COMMIT, in one round trip: the chain's
    lock, taken by the event, is then held for no step of the client's. A forwarding worker's
    append used to hold it over one more step (about 4 ms, median, under the benchmark, for
    the thread to get the GIL back and send COMMIT), and every other worker's append queued
    behind it. For the hot paths, whose callers need neither the event's id nor its hash; the
    session must end with `commit` (a `storage.db.write_session` does). On SQLite the event is
    appended at once, under the database's write lock.
    """
    if is_sqlite(session):
        append(
            session,
            actor=actor,
            action=action,
            client_id=client_id,
            subject=subject,
            details=details,
            now=now,
        )
        return
    values, body = _new_event(actor, action, client_id, subject, details, now)
    session.info.setdefault(_AT_COMMIT, []).append(_function_arguments(values, body))


@event.listens_for(Session, "before_commit")
def _commit_with_held_events(session: Session) -> None:
    """Send the events `append_at_commit` holds, and COMMIT, in one pipeline (PostgreSQL).

    SQLAlchemy's own COMMIT then finds the connection idle, and psycopg sends nothing. A
    failed append aborts the pipeline before its COMMIT: the error propagates, the caller's
    transaction rolls back, and nothing of it is stored.
    """
    if session.in_nested_transaction() or not session.info.get(_AT_COMMIT):
        return  # a savepoint's commit: the events wait for the transaction's
    held = session.info.pop(_AT_COMMIT)
    session.flush()  # pending ORM changes belong to this transaction, before its COMMIT
    connection = session.connection()
    driver = connection.connection.driver_connection
    if driver is None or not Pipeline.is_supported():
        for arguments in held:
            connection.exec_driver_sql(_APPEND_FUNCTION, arguments)
        return
    try:
        with driver.pipeline(), driver.cursor() as cursor:
            for arguments in held:
                cursor.execute(_APPEND_FUNCTION, arguments)
            driver.commit()
    except psycopg.Error as exc:
        # As SQLAlchemy would have raised it (OperationalError, IntegrityError...), so callers
        # tell a lost connection from a refused statement the same way as everywhere else.
        raise sa.exc.DBAPIError.instance(
            _APPEND_FUNCTION, None, exc, psycopg.Error, dialect=session.get_bind().dialect
        ) from exc


@event.listens_for(Session, "after_transaction_end")
def _drop_held_events(session: Session, transaction: SessionTransaction) -> None:
    # The transaction rolled back (a commit took them already). A savepoint's end keeps them:
    # an event of work a savepoint undid is still written, which errs on the side of the log.
    if transaction.parent is None:
        session.info.pop(_AT_COMMIT, None)


def head(session: Session) -> tuple[int, str] | None:
    """Id and hash of the newest event (to record elsewhere as an anchor), or None if empty."""
    row = session.execute(
        sa.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).one_or_none()
    return None if row is None else (row.id, row.hash)


def verify(session: Session, *, batch_size: int = 1000) -> VerifyResult:
    """Walk the whole chain in id order, `batch_size` rows at a time; stop at the first break."""
    columns = (
        AuditEvent.id,
        AuditEvent.occurred_at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.client_id,
        AuditEvent.subject,
        AuditEvent.details,
        AuditEvent.prev_hash,
        AuditEvent.hash,
    )
    expected_id, prev_hash, checked = 1, GENESIS_HASH, 0
    query = sa.select(*columns).order_by(AuditEvent.id).limit(batch_size)
    while True:
        # The first batch has no lower bound, so a row slipped in below id 1 is seen too.
        bounded = query if checked == 0 else query.where(AuditEvent.id > expected_id - 1)
        rows = session.execute(bounded).all()
        for row in rows:
            problem = _check(row, expected_id, prev_hash)
            if problem is not None:
                return VerifyResult(False, checked, row.id, problem)
            expected_id, prev_hash, checked = expected_id + 1, row.hash, checked + 1
        if len(rows) < batch_size:
            return VerifyResult(True, checked)


def _check(row: sa.Row[Any], expected_id: int, prev_hash: str) -> str | None:
    if row.id != expected_id:
        if row.id > expected_id:
            return f"events {expected_id}..{row.id - 1} are missing"
        return f"event id {row.id} is out of sequence (expected {expected_id})"
    if row.prev_hash != prev_hash:
        return "prev_hash does not match the previous event's hash"
    recomputed = event_hash(
        prev_hash,
        event_id=row.id,
        occurred_at=row.occurred_at.astimezone(UTC),
        actor=row.actor,
        action=row.action,
        client_id=row.client_id,
        subject=row.subject,
        details=row.details,
    )
    if recomputed != row.hash:
        return "hash does not match the event's contents"
    return None

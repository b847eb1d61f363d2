"""data_0005: PostgreSQL's audit append function, up and down; the chain continues across it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from storage import audit
from storage.db import write_session
from tests.storage.factories import NOW
from tests.storage.migration_steps import migrate_data_to

BEFORE = "data_0004"
REVISION = "data_0005"


@pytest.fixture
def engine(postgres_database_factory: Callable[[], str]) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_database_factory())
    yield engine
    engine.dispose()


def _has_function(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        found = connection.scalar(
            sa.text("SELECT count(*) FROM pg_proc WHERE proname = 'ordervault_audit_append'")
        )
    return found == 1


def _append_in_python(engine: sa.Engine, n: int) -> None:
    """An event as data_0004's code wrote it: lock, head, hash and insert from the client."""
    with engine.begin() as connection:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(audit._CHAIN_LOCK_KEY)))
        head = connection.execute(
            sa.text("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1")
        ).one_or_none()
        event_id, prev = (1, audit.GENESIS_HASH) if head is None else (head.id + 1, head.hash)
        fields = {
            "occurred_at": NOW,
            "actor": "cli",
            "action": "test",
            "client_id": "acme",
            "subject": {"n": n},
            "details": {},
        }
        digest = audit.event_hash(prev, event_id=event_id, **fields)  # type: ignore[arg-type]
        connection.execute(
            sa.text(
                "INSERT INTO audit_events (id, occurred_at, actor, action, client_id, subject,"
                " details, prev_hash, hash) VALUES (:id, :occurred_at, :actor, :action,"
                " :client_id, CAST(:subject AS JSON), CAST(:details AS JSON), :prev, :hash)"
            ),
            {
                **fields,
                "id": event_id,
                "subject": audit.canonical_json(fields["subject"]),
                "details": "{}",
                "prev": prev,
                "hash": digest,
            },
        )


def test_the_function_continues_a_chain_written_before_it_and_goes_on_downgrade(
    engine: sa.Engine,
) -> None:
    migrate_data_to(engine, BEFORE)
    _append_in_python(engine, 1)
    assert not _has_function(engine)

    migrate_data_to(engine, REVISION)
    assert _has_function(engine)
    sessions = sessionmaker(bind=engine)
    with write_session(sessions) as session:
        event = audit.append(
            session, actor="cli", action="test", subject={"n": 2}, details={}, now=NOW
        )
    assert event.id == 2
    with sessions() as session:
        assert audit.verify(session) == audit.VerifyResult(ok=True, checked=2)

    migrate_data_to(engine, BEFORE, down=True)
    assert not _has_function(engine)
    _append_in_python(engine, 3)
    with sessions() as session:
        assert audit.verify(session) == audit.VerifyResult(ok=True, checked=3)

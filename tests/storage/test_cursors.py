"""Sync cursors: one per (client, marketplace, account, stream), replaced on every save."""

from __future__ import annotations

from datetime import timedelta

from storage import cursors
from tests.fixtures.databases import MigratedDatabase
from tests.storage.factories import NOW

KEY = ("acme", "amazon", "acme-eu")


def test_missing_cursor_is_none(data_db: MigratedDatabase) -> None:
    with data_db.sessions() as session:
        assert cursors.get_cursor(session, *KEY, "incremental") is None


def test_save_creates_then_replaces(data_db: MigratedDatabase) -> None:
    first_state = {"next_token": "t1", "window": ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]}
    with data_db.sessions.begin() as session:
        cursors.save_cursor(
            session, *KEY, "incremental", position_at=NOW, state=first_state, now=NOW
        )
    later = NOW + timedelta(minutes=15)
    with data_db.sessions.begin() as session:
        saved = cursors.save_cursor(
            session, *KEY, "incremental", position_at=later, state={}, now=later
        )
        cursors.save_cursor(session, *KEY, "backfill", position_at=None, state=first_state, now=NOW)

    with data_db.sessions() as session:
        incremental = cursors.get_cursor(session, *KEY, "incremental")
        backfill = cursors.get_cursor(session, *KEY, "backfill")
        other_account = cursors.get_cursor(session, "acme", "amazon", "acme-us", "incremental")
    assert incremental == saved
    assert incremental is not None
    assert (incremental.position_at, incremental.state, incremental.updated_at) == (
        later,
        {},
        later,
    )
    assert backfill is not None
    assert (backfill.position_at, backfill.state) == (None, first_state)
    assert other_account is None


def test_cursor_saved_in_a_rolled_back_transaction_is_not_kept(data_db: MigratedDatabase) -> None:
    with data_db.sessions() as session:
        cursors.save_cursor(session, *KEY, "incremental", position_at=NOW, state={}, now=NOW)
        session.rollback()
        assert cursors.get_cursor(session, *KEY, "incremental") is None

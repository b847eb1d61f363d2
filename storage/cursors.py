"""Sync cursors: where the last pull of each (client, marketplace, account, stream) got to.

The connector resumes from `position_at` (minus its overlap) and from whatever small state it
keeps (a pagination token, the window being walked). Saving is an upsert, so the first save and
every later one look the same to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.models import SyncCursor
from storage.sqltypes import ensure_utc
from storage.statements import insert_on_conflict


@dataclass(frozen=True)
class Cursor:
    client_id: str
    marketplace: str
    account: str
    stream: str
    position_at: datetime | None
    state: Mapping[str, Any]
    updated_at: datetime


def get_cursor(
    session: Session, client_id: str, marketplace: str, account: str, stream: str
) -> Cursor | None:
    row = session.execute(
        sa.select(SyncCursor.position_at, SyncCursor.state, SyncCursor.updated_at).where(
            SyncCursor.client_id == client_id,
            SyncCursor.marketplace == marketplace,
            SyncCursor.account == account,
            SyncCursor.stream == stream,
        )
    ).one_or_none()
    if row is None:
        return None
    return Cursor(
        client_id, marketplace, account, stream, row.position_at, row.state, row.updated_at
    )


def save_cursor(
    session: Session,
    client_id: str,
    marketplace: str,
    account: str,
    stream: str,
    *,
    position_at: datetime | None,
    state: Mapping[str, Any],
    now: datetime,
) -> Cursor:
    """Create or replace the cursor; it commits with the orders it covers, in one transaction."""
    cursor = Cursor(
        client_id,
        marketplace,
        account,
        stream,
        position_at=None if position_at is None else ensure_utc(position_at),
        state=dict(state),
        updated_at=ensure_utc(now),
    )
    values = {
        "position_at": cursor.position_at,
        "state": cursor.state,
        "updated_at": cursor.updated_at,
    }
    session.execute(
        insert_on_conflict(session, SyncCursor)
        .values(
            client_id=client_id, marketplace=marketplace, account=account, stream=stream, **values
        )
        .on_conflict_do_update(
            index_elements=["client_id", "marketplace", "account", "stream"], set_=values
        )
    )
    return cursor

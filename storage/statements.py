"""SQL helpers the repositories share: the dialect-specific INSERT, affected-row counts."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.db import is_sqlite


def insert_on_conflict(
    session: Session, model: type[Any] | sa.Table
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for `model` that accepts ON CONFLICT clauses on both dialects."""
    if is_sqlite(session):
        return sqlite.insert(model)
    return postgresql.insert(model)


def rowcount(result: sa.Result[Any]) -> int:
    """Rows matched by an UPDATE or DELETE executed through a session."""
    return cast(sa.CursorResult[Any], result).rowcount

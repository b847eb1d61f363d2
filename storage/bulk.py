"""Many rows in one INSERT statement, on either dialect.

PostgreSQL gets one array parameter per column, unnested server-side:

    INSERT INTO t (a, b) SELECT * FROM unnest(CAST(%(p0)b AS TEXT[]), CAST(%(p1)b AS BYTEA[]))

so the statement's text is the same for 1 row or 1,000. That matters more than it looks:
SQLAlchemy's default for an executemany with RETURNING ("insertmanyvalues") renders one VALUES
group per row, and psycopg re-parses that text for placeholders on every call, which cost more
than the database's own work for a page of orders. SQLite, in process, has no such cost and
takes the ordinary executemany.

Values are bound exactly as the columns' types would bind them (aware UTC datetimes, JSON
serialised), so rows read back the same whichever path wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.db import is_sqlite
from storage.statements import insert_on_conflict


def insert_many(
    session: Session,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_conflicts_on: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[sa.Row[Any]]:
    """Insert `rows` (each naming every column it sets, the same columns in each).

    `skip_conflicts_on`: a unique index's columns; a row that would violate it is skipped
    (ON CONFLICT DO NOTHING) and returns nothing. `returning`: columns to return, one row per
    inserted row, in no particular order (return a key to match them up).
    """
    if not rows:
        return []
    if is_sqlite(session):
        return _executemany(session, table, rows, skip_conflicts_on, returning)
    return _unnest(session, table, rows, skip_conflicts_on, returning)


def _executemany(
    session: Session,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    skip_conflicts_on: Sequence[str],
    returning: Sequence[str],
) -> list[sa.Row[Any]]:
    statement: Any = insert_on_conflict(session, table)
    if skip_conflicts_on:
        statement = statement.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
        return list(session.execute(statement, list(rows)))
    session.execute(statement, list(rows))
    return []


def _unnest(
    session: Session,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    skip_conflicts_on: Sequence[str],
    returning: Sequence[str],
) -> list[sa.Row[Any]]:
    dialect = session.get_bind().dialect
    names = list(rows[0])
    preparer = dialect.identifier_preparer
    arrays: list[str] = []
    params: dict[str, list[Any]] = {}
    for position, name in enumerate(names):
        column = table.c[name]
        sql_type = column.type.compile(dialect=dialect)
        bind = column.type.bind_processor(dialect)
        values = [row[name] for row in rows]
        if isinstance(column.type, sa.JSON):
            # Sent as text and cast: psycopg would otherwise need a JSON wrapper per value.
            bind = None
            serialize = getattr(dialect, "_json_serializer", None) or json.dumps
            values = [None if v is None else serialize(v) for v in values]
        elif isinstance(column.type, sa.types.TypeDecorator):
            values = [column.type.process_bind_param(v, dialect) for v in values]
            bind = None
        if bind is not None:
            values = [bind(v) for v in values]
        params[f"p{position}"] = values
        # %(name)b: psycopg sends the array in binary, with no per-element quoting to do.
        arrays.append(f"CAST(%(p{position})b AS {sql_type}[])")
    # Only identifiers from the table's metadata (quoted) and type names go into the text;
    # every value is a bound parameter.
    sql = (
        f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608  # nosec B608
        f"({', '.join(preparer.quote(name) for name in names)}) "
        f"SELECT * FROM unnest({', '.join(arrays)})"
    )
    if skip_conflicts_on:
        sql += (
            f" ON CONFLICT ({', '.join(preparer.quote(c) for c in skip_conflicts_on)}) DO NOTHING"
        )
    if returning:
        sql += f" RETURNING {', '.join(preparer.quote(c) for c in returning)}"
    # Driver SQL: psycopg's own placeholders, which SQLAlchemy's text() cannot spell.
    result = session.connection().exec_driver_sql(sql, params)
    return list(result) if returning else []

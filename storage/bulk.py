"""Many rows in one INSERT statement, on either dialect.

PostgreSQL gets one array parameter per column, unnested server-side:

    INSERT INTO t (a, b, c) SELECT u1, u2, CAST(%(p2)b AS TEXT)
    FROM unnest(CAST(%(p0)b AS TEXT[]), CAST(%(p1)b AS BYTEA[])) AS u(u1, u2)

so the statement's text does not grow with the rows. That matters more than it looks:
SQLAlchemy's default for an executemany with RETURNING ("insertmanyvalues") renders one VALUES
group per row, and psycopg re-parses that text for placeholders on every call, which cost more
than the database's own work for a page of orders. A column whose rows all hold the same value
(`c` above) is bound once as a scalar. SQLite, in process, has no such costs and takes the
ordinary executemany.

Values are bound exactly as the columns' types would bind them (aware UTC datetimes, JSON
serialised), so rows read back the same whichever path wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.db import is_sqlite
from storage.statements import insert_on_conflict


class JsonText(str):
    """A JSON column's value already serialised: written as it is, not serialised again."""

    __slots__ = ()


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
    if any(type(value) is JsonText for row in rows for value in row.values()):
        # SQLite binds through the column types, which would serialise the text once more.
        rows = [{k: _json_value(v) for k, v in row.items()} for row in rows]
    statement: Any = insert_on_conflict(session, table)
    if skip_conflicts_on:
        statement = statement.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
        return list(session.execute(statement, list(rows)))
    session.execute(statement, list(rows))
    return []


def _json_value(value: Any) -> Any:
    return json.loads(value) if type(value) is JsonText else value


# Types whose equal values are stored identically (not Decimal: 1.0 == 1.00; not float:
# 0.0 == -0.0), so one of them may stand for all.
_EXACT_TYPES = frozenset({type(None), str, int, bool, bytes, date, datetime})


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
    selected: list[str] = []
    params: dict[str, Any] = {}
    # Column by column, gathered in C: one pass over the rows instead of one per column.
    columns = zip(*map(itemgetter(*names), rows), strict=True) if len(names) > 1 else None
    for position, name in enumerate(names):
        column = table.c[name]
        sql_type = _sql_type(column, dialect)
        values = list(next(columns)) if columns is not None else [row[name] for row in rows]
        first = values[0]
        param = f"p{position}"
        # A value every row shares (the page's client, its clock, the NULLs of a new order)
        # is bound once, as a scalar: psycopg dumps array elements one by one, in Python.
        if type(first) in _EXACT_TYPES and values.count(first) == len(values):
            params[param] = _bind_values(column, dialect, [first])[0]
            selected.append(f"CAST(%({param})b AS {sql_type})")
            continue
        params[param] = _bind_values(column, dialect, values)
        # %(name)b: psycopg sends the array in binary, with no per-element quoting to do.
        arrays.append(f"CAST(%({param})b AS {sql_type}[])")
        selected.append(f"u{len(arrays)}")
    if not arrays:  # every row the same: one array still gives unnest its row count
        params["p0"] = [params["p0"]] * len(rows)
        arrays.append(f"CAST(%(p0)b AS {_sql_type(table.c[names[0]], dialect)}[])")
        selected[0] = "u1"
    # Only identifiers from the table's metadata (quoted) and type names go into the text;
    # every value is a bound parameter.
    sql = (
        f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608  # nosec B608
        f"({', '.join(preparer.quote(name) for name in names)}) "
        f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)})"
        f" AS u({', '.join(f'u{n}' for n in range(1, len(arrays) + 1))})"
    )
    if skip_conflicts_on:
        sql += (
            f" ON CONFLICT ({', '.join(preparer.quote(c) for c in skip_conflicts_on)}) DO NOTHING"
        )
    if returning:
        sql += f" RETURNING {', '.join(preparer.quote(c) for c in returning)}"
    # Driver SQL: psycopg's own placeholders, which SQLAlchemy's text() cannot spell.
    result = session.connection().exec_driver_sql(sql, params)
    return list(result.all()) if returning else []


@lru_cache(maxsize=1024)
def _sql_type(column: sa.Column[Any], dialect: sa.Dialect) -> str:
    # Compiling a type costs more than binding a page's worth of one column's values.
    return column.type.compile(dialect=dialect)


def _bind_values(column: sa.Column[Any], dialect: sa.Dialect, values: list[Any]) -> list[Any]:
    """`values` as the column's type would bind them."""
    if isinstance(column.type, sa.JSON):
        # Sent as text and cast: psycopg would otherwise need a JSON wrapper per value.
        serialize = getattr(dialect, "_json_serializer", None) or json.dumps
        return [v if v is None or type(v) is JsonText else serialize(v) for v in values]
    if isinstance(column.type, sa.types.TypeDecorator):
        return [column.type.process_bind_param(v, dialect) for v in values]
    bind = column.type.bind_processor(dialect)
    return values if bind is None else [bind(v) for v in values]

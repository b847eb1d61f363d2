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
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.db import is_sqlite
from storage.sqltypes import UtcDateTime
from storage.statements import insert_on_conflict


class JsonText(str):
    """A JSON column's value already serialised: written as it is, not serialised again."""

    __slots__ = ()


def insert_columns(
    session: Session,
    table: sa.Table,
    columns: Mapping[str, list[Any]],
    *,
    shared: Mapping[str, Any] | None = None,
    skip_conflicts_on: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[sa.Row[Any]]:
    """Insert rows given column by column: `columns[name][n]` is row n's value.

    `shared`: columns whose value every row has (a page's clock, the NULLs of a new row), given
    once. The caller that holds its values by column saves a dict per row, and on PostgreSQL
    the rows are never built at all. `skip_conflicts_on`: a unique index's columns; a row that
    would violate it is skipped (ON CONFLICT DO NOTHING) and returns nothing. `returning`:
    columns to return, one row per inserted row, in no particular order (return a key to match
    them up).
    """
    shared = shared or {}
    count = len(next(iter(columns.values()))) if columns else 0
    if not count:
        return []
    if is_sqlite(session):
        names = [*columns, *shared]
        extra = tuple(shared.values())
        rows = [
            dict(zip(names, values + extra, strict=True))
            for values in zip(*columns.values(), strict=True)
        ]
        return _executemany(session, table, rows, skip_conflicts_on, returning)
    return _unnest(session, table, columns, shared, skip_conflicts_on, returning)


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
    columns: Mapping[str, list[Any]],
    shared: Mapping[str, Any],
    skip_conflicts_on: Sequence[str],
    returning: Sequence[str],
) -> list[sa.Row[Any]]:
    dialect = session.get_bind().dialect
    # (column, sent as an array) in the statement's order; parameter n is "p<n>".
    layout: list[tuple[str, bool]] = []
    params: dict[str, Any] = {}
    for position, (name, values) in enumerate(columns.items()):
        column = table.c[name]
        first = values[0]
        # A value every row shares (the page's client, its clock, the NULLs of a new order)
        # is bound once, as a scalar: psycopg dumps array elements one by one, in Python.
        if type(first) in _EXACT_TYPES and values.count(first) == len(values):
            params[f"p{position}"] = _bind_values(column, dialect, [first])[0]
            layout.append((name, False))
        else:
            params[f"p{position}"] = _bind_values(column, dialect, values)
            layout.append((name, True))
    for position, (name, value) in enumerate(shared.items(), start=len(columns)):
        params[f"p{position}"] = _bind_values(table.c[name], dialect, [value])[0]
        layout.append((name, False))
    if not any(is_array for _, is_array in layout):
        # Every row the same: one array still gives unnest its row count.
        params["p0"] = [params["p0"]] * len(next(iter(columns.values())))
        layout[0] = (layout[0][0], True)
    sql = _insert_sql(table, dialect, tuple(layout), tuple(skip_conflicts_on), tuple(returning))
    # Driver SQL: psycopg's own placeholders, which SQLAlchemy's text() cannot spell.
    result = session.connection().exec_driver_sql(sql, params)
    return list(result.all()) if returning else []


@lru_cache(maxsize=256)
def _insert_sql(
    table: sa.Table,
    dialect: sa.Dialect,
    layout: tuple[tuple[str, bool], ...],
    skip_conflicts_on: tuple[str, ...],
    returning: tuple[str, ...],
) -> str:
    """The INSERT ... SELECT ... FROM unnest(...) text for `_unnest`'s `layout`.

    A handful of layouts recur page after page; quoting and joining two dozen names each time
    cost as much as binding a column.
    """
    preparer = dialect.identifier_preparer
    arrays: list[str] = []
    selected: list[str] = []
    for position, (name, is_array) in enumerate(layout):
        sql_type = _sql_type(table.c[name], dialect)
        if is_array:
            # %(name)b: psycopg sends the array in binary, with no per-element quoting to do.
            arrays.append(f"CAST(%(p{position})b AS {sql_type}[])")
            selected.append(f"u{len(arrays)}")
        else:
            selected.append(f"CAST(%(p{position})b AS {sql_type})")
    # Only identifiers from the table's metadata (quoted) and type names go into the text;
    # every value is a bound parameter.
    sql = (
        f"INSERT INTO {preparer.format_table(table)} "  # noqa: S608  # nosec B608
        f"({', '.join(preparer.quote(name) for name, _ in layout)}) "
        f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)})"
        f" AS u({', '.join(f'u{n}' for n in range(1, len(arrays) + 1))})"
    )
    if skip_conflicts_on:
        sql += (
            f" ON CONFLICT ({', '.join(preparer.quote(c) for c in skip_conflicts_on)}) DO NOTHING"
        )
    if returning:
        sql += f" RETURNING {', '.join(preparer.quote(c) for c in returning)}"
    return sql


@lru_cache(maxsize=1024)
def _sql_type(column: sa.Column[Any], dialect: sa.Dialect) -> str:
    # Compiling a type costs more than binding a page's worth of one column's values.
    return column.type.compile(dialect=dialect)


def _bind_values(column: sa.Column[Any], dialect: sa.Dialect, values: list[Any]) -> list[Any]:
    """`values` as the column's type would bind them."""
    column_type = column.type
    if isinstance(column_type, sa.JSON):
        # Sent as text and cast: psycopg would otherwise need a JSON wrapper per value.
        serialize = getattr(dialect, "_json_serializer", None) or json.dumps
        return [v if v is None or type(v) is JsonText else serialize(v) for v in values]
    if isinstance(column_type, UtcDateTime):
        # What `ensure_utc` would return, for the values already aware UTC (all of them, from
        # a validated order): the call per value costs more than the rest of the column.
        convert = column_type.process_bind_param
        return [
            v if v is None or (type(v) is datetime and v.tzinfo is UTC) else convert(v, dialect)
            for v in values
        ]
    if isinstance(column_type, sa.types.TypeDecorator):
        return [column_type.process_bind_param(v, dialect) for v in values]
    # The type would wrap each value in psycopg's `Binary`, which psycopg then dumps as bytea
    # in Python; plain bytes are dumped as the same bytea in C.
    if (
        isinstance(column_type, sa.LargeBinary)
        and dialect.driver == "psycopg"
        and all(type(v) is bytes or v is None for v in values)
    ):
        return values
    bind = column_type.bind_processor(dialect)
    return values if bind is None else [bind(v) for v in values]

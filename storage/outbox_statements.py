"""The outbox's statements, built once per dialect and executed with parameters.

Building a SQLAlchemy statement on every claim cost more CPU than the database spent running
it; a statement object that is reused keeps its cache key, so SQLAlchemy compiles it once.
On PostgreSQL the statements a message runs by delivery ids are written out by hand so that
each row is found by primary key whatever the planner's statistics say (see
`_CLAIM_BY_IDS_POSTGRESQL`). `storage.outbox` runs them; `id_in_param` also serves the
pipeline's own statements by ids.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from storage.models import Delivery

_DELIVERIES = cast(sa.Table, Delivery.__table__)


def claimable(
    now: datetime | sa.BindParameter[Any], rows: sa.FromClause | None = None
) -> sa.ColumnElement[bool]:
    """Due: pending or failed with its next attempt come, or sending under a lapsed lease.

    `rows`: the deliveries table or an alias of it (the table itself when None).
    """
    c = (_DELIVERIES if rows is None else rows).c
    return sa.or_(
        sa.and_(c.status.in_(("pending", "failed")), c.next_attempt_at <= now),
        sa.and_(c.status == "sending", c.lease_until <= now),
    )


def id_in_param(column: sa.ColumnElement[int], name: str, sqlite: bool) -> sa.ColumnElement[bool]:
    """`column IN (ids)`, the ids bound at execution as parameter `name`, for a statement
    built once. On PostgreSQL it is `= ANY(<one array parameter>)`: an IN list renders one
    parameter per id, so every claim size would be a new statement text that SQLAlchemy
    compiles and psycopg parses again; with one array the text never changes."""
    if sqlite:
        return column.in_(sa.bindparam(name, expanding=True))
    return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.BigInteger)))


# A message's claim on PostgreSQL: its rows, looked up one by one by primary key. The general
# statement below leaves the choice of index to the planner, which took the status index
# whenever the table's statistics said few rows were due: true of a quiet outbox, of a new one
# not yet analysed, and false during a backfill, when thousands are. Each claim then read
# every due row, and every dead index entry an update left behind until vacuum (each claim and
# each delivery moves a row to another status), to keep the hundred it was given: 3-6 ms of
# server time per claim of 100 after 20,000 forwarded rows, growing with the backlog and the
# history. Here nothing is left to the statistics:
# - unnest + LATERAL ... LIMIT 1: a primary-key lookup per id (the LIMIT keeps the planner
#   from flattening the subquery into a join it could plan as a scan);
# - OFFSET 0 keeps NOT EXISTS a per-row probe of the (order, version, destination) unique
#   index, not an anti-join over every row that was ever 'sending';
# - ARRAY(...) hands the UPDATE a list of ids to find by primary key, not a join to plan.
# Rows are locked (FOR UPDATE ... SKIP LOCKED) inside the lateral subquery, after its filter,
# and a row changed by a concurrent claim is re-checked against the filter there, as the
# general statement's would be.
_CLAIM_BY_IDS_POSTGRESQL = sa.text(
    """
    UPDATE deliveries
    SET status = 'sending', attempts = deliveries.attempts + 1,
        lease_until = :lease_until, leased_by = :worker_id
    WHERE deliveries.id = ANY(ARRAY(
        SELECT due.id
        FROM unnest(:ids) AS k(id)
        CROSS JOIN LATERAL (
            SELECT d.id, d.next_attempt_at
            FROM deliveries AS d
            WHERE d.id = k.id
              AND ((d.status IN ('pending', 'failed') AND d.next_attempt_at <= :now)
                   OR (d.status = 'sending' AND d.lease_until <= :now))
              AND NOT EXISTS (
                  SELECT FROM deliveries AS older
                  WHERE older.order_id = d.order_id
                    AND older.destination = d.destination
                    AND older.order_version < d.order_version
                    AND older.status = 'sending'
                    AND older.lease_until > :now
                  OFFSET 0)
            LIMIT 1) AS due
        ORDER BY due.next_attempt_at, due.id
        LIMIT :limit
        FOR UPDATE OF due SKIP LOCKED))
    RETURNING deliveries.id, deliveries.order_id, deliveries.order_version,
        deliveries.client_id, deliveries.destination, deliveries.idempotency_key,
        deliveries.attempts, deliveries.next_attempt_at
    """
).bindparams(
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger)),
    sa.bindparam("now", type_=_DELIVERIES.c.next_attempt_at.type),
    sa.bindparam("lease_until", type_=_DELIVERIES.c.lease_until.type),
    sa.bindparam("worker_id", type_=sa.String),
    sa.bindparam("limit", type_=sa.Integer),
)


def claim_statement(sqlite: bool, by_ids: bool, by_destination: bool) -> sa.Executable:
    """The claim for this dialect and shape: a message's own rows (`by_ids`) on PostgreSQL by
    primary key, every other shape by the general statement."""
    if by_ids and not by_destination and not sqlite:
        return _CLAIM_BY_IDS_POSTGRESQL
    return _general_claim(sqlite, by_ids, by_destination)


@functools.cache
def _general_claim(sqlite: bool, by_ids: bool, by_destination: bool) -> sa.Update:
    """The claim, one statement per shape, built once and executed with parameters.

    One UPDATE whose subquery picks and locks the due rows, instead of a SELECT and then an
    UPDATE by their ids: a round trip and a list of ids less per claim. Building statements
    on every claim cost more CPU than the database spent running them, and a statement object
    that is reused keeps its cache key, so SQLAlchemy compiles it once.
    """
    d = _DELIVERIES.c
    # The subquery reads an alias: against the table itself SQLAlchemy would correlate it
    # with the UPDATE's own table and drop its FROM.
    due = _DELIVERIES.alias("due")
    now = sa.bindparam("now", type_=d.next_attempt_at.type)
    # Not while an older version of the same order is on its way to the same destination under
    # a live lease: the newer one waits, so it cannot overtake (order kept per order id). An
    # expired lease no longer holds it back (that worker is presumed dead; receivers can also
    # drop a late older version by `order_version`).
    older = _DELIVERIES.alias("older")
    no_older_in_flight = ~sa.exists().where(
        older.c.order_id == due.c.order_id,
        older.c.destination == due.c.destination,
        older.c.order_version < due.c.order_version,
        older.c.status == "sending",
        older.c.lease_until > now,
    )
    select_due = (
        sa.select(due.c.id)
        .where(claimable(now, due), no_older_in_flight)
        .order_by(due.c.next_attempt_at, due.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
        # Rows another worker is claiming right now are skipped, not waited for; once that
        # claim commits, the re-checked WHERE no longer matches them. SQLite ignores this and
        # relies on the write lock instead.
        .with_for_update(skip_locked=True)
    )
    if by_ids:
        select_due = select_due.where(id_in_param(due.c.id, "ids", sqlite))
    if by_destination:
        select_due = select_due.where(
            # Not named after the columns: an UPDATE reserves those names for its SET values.
            due.c.client_id == sa.bindparam("of_client_id", type_=d.client_id.type),
            due.c.destination == sa.bindparam("of_destination", type_=d.destination.type),
        )
    return (
        sa.update(_DELIVERIES)
        .where(d.id.in_(select_due))
        .values(
            status="sending",
            lease_until=sa.bindparam("lease_until", type_=d.lease_until.type),
            leased_by=sa.bindparam("worker_id", type_=d.leased_by.type),
            attempts=d.attempts + 1,
        )
        .returning(
            d.id,
            d.order_id,
            d.order_version,
            d.client_id,
            d.destination,
            d.idempotency_key,
            d.attempts,
            d.next_attempt_at,
        )
    )


@functools.cache
def delivered_statement(sqlite: bool) -> sa.Executable:
    if not sqlite:
        return _DELIVERED_POSTGRESQL
    d = _DELIVERIES.c
    return (
        sa.update(_DELIVERIES)
        .where(id_in_param(d.id, "ids", sqlite), d.status == "sending")
        .values(
            status="delivered",
            delivered_at=sa.bindparam("now", type_=d.delivered_at.type),
            lease_until=None,
            leased_by=None,
        )
    )


# The rows a worker sent, by primary key, for the reason `_CLAIM_BY_IDS_POSTGRESQL` gives:
# `id = ANY(ids) AND status = 'sending'` was planned as a read of the status index's 'sending'
# entries (few by the statistics), and every claim left one there, dead until vacuum. Each
# row is locked in the subquery and its status re-checked if a concurrent transaction changed
# it, as the UPDATE's own WHERE would be.
_DELIVERED_POSTGRESQL = sa.text(
    """
    UPDATE deliveries
    SET status = 'delivered', delivered_at = :now, lease_until = NULL, leased_by = NULL
    WHERE deliveries.id = ANY(ARRAY(
        SELECT sending.id
        FROM unnest(:ids) AS k(id)
        CROSS JOIN LATERAL (
            SELECT d.id FROM deliveries AS d
            WHERE d.id = k.id AND d.status = 'sending'
            LIMIT 1
            FOR UPDATE) AS sending))
    """
).bindparams(
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger)),
    sa.bindparam("now", type_=_DELIVERIES.c.delivered_at.type),
)


@functools.cache
def release_statement(sqlite: bool) -> sa.Executable:
    if not sqlite:
        return _RELEASE_POSTGRESQL
    d = _DELIVERIES.c
    return (
        sa.update(_DELIVERIES)
        .where(
            id_in_param(d.id, "ids", sqlite),
            d.status == "sending",
            d.leased_by == sa.bindparam("worker_id", type_=d.leased_by.type),
        )
        .values(
            status="pending",
            next_attempt_at=sa.bindparam("retry_at", type_=d.next_attempt_at.type),
            attempts=d.attempts - 1,
            lease_until=None,
            leased_by=None,
        )
    )


# Rows handed back unsent, by primary key, for the same reason as `_DELIVERED_POSTGRESQL`: a
# destination that is down makes every claim hand back what it did not send.
_RELEASE_POSTGRESQL = sa.text(
    """
    UPDATE deliveries
    SET status = 'pending', next_attempt_at = :retry_at, attempts = deliveries.attempts - 1,
        lease_until = NULL, leased_by = NULL
    WHERE deliveries.id = ANY(ARRAY(
        SELECT held.id
        FROM unnest(:ids) AS k(id)
        CROSS JOIN LATERAL (
            SELECT d.id FROM deliveries AS d
            WHERE d.id = k.id AND d.status = 'sending' AND d.leased_by = :worker_id
            LIMIT 1
            FOR UPDATE) AS held))
    """
).bindparams(
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger)),
    sa.bindparam("retry_at", type_=_DELIVERIES.c.next_attempt_at.type),
    sa.bindparam("worker_id", type_=sa.String),
)

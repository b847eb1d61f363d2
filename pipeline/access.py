"""The one audited way to buyer PII: open orders' sealed parts for a stated purpose.

Every successful or failed open appends an audit event naming the order, the bucket, the
purpose and the actor, never the PII. The event is committed before plaintext is returned, so
no read of PII escapes the log. `open_order` opens one order (an operator's export, a support
case) and records one event; `open_orders` opens many (a worker forwarding a batch) with one
read and one event per outcome, whose subject lists the orders and whose details count them;
`claim_and_open` is how a forwarding worker opens orders: it leases outbox rows and opens their
orders in one transaction, and leaves those decrypts out of the decrypt-rate alarm (see its
docstring for why).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from connectors.classify import join
from connectors.order import Order
from crypto import DecryptError, RecordRef
from pipeline import metrics
from pipeline.runtime import Runtime
from storage import audit, get_order, write_session
from storage.db import is_sqlite
from storage.models import Order as OrderRow
from storage.outbox import ClaimedDelivery
from storage.outbox_statements import id_in_param


class Purpose(enum.StrEnum):
    FORWARD = "forward"
    DSAR_EXPORT = "dsar_export"
    INCIDENT = "incident"
    SUPPORT = "support"
    DEMO = "demo"


class PiiUnavailableError(Exception):
    """The order's PII cannot be read: shredded, erased, or its key is gone."""


def open_order(runtime: Runtime, order_id: int, *, purpose: Purpose, actor: str) -> Order:
    """Load order `order_id` with its PII, recording the access in the audit log."""
    with runtime.sessions() as session:
        row = get_order(session, order_id)
    if row is None:
        raise LookupError(f"no order with id {order_id}")
    subject = {"order_id": row.id, "version": row.version, "bucket_day": str(row.bucket_day)}
    outcome, pii = _decrypt(runtime, row)
    if pii is not None:
        metrics.record_decrypt(row.client_id, purpose.value)
    now = runtime.clock()
    alarm_count = runtime.decrypt_alarm.record(actor, now)
    with write_session(runtime.sessions) as session:
        audit.append(
            session,
            actor=actor,
            action="decrypt",
            client_id=row.client_id,
            subject=subject,
            details={"purpose": purpose.value, "outcome": outcome},
            now=now,
        )
        _append_alarm(runtime, session, row.client_id, actor, alarm_count, now)
    if pii is None:
        raise PiiUnavailableError(f"order {order_id}: PII is {outcome}")
    return join(Order, dict(row.clear), pii)


def _append_alarm(
    runtime: Runtime,
    session: Session,
    client_id: str,
    actor: str,
    alarm_count: int | None,
    now: datetime,
) -> None:
    if alarm_count is None:
        return
    metrics.record_decrypt_alarm(client_id)
    audit.append_at_commit(
        session,
        actor=actor,
        action="decrypt_alarm",
        client_id=client_id,
        subject={"actor": actor},
        details={
            "decrypts_in_window": alarm_count,
            "limit_per_minute": runtime.decrypt_alarm.limit_per_minute,
        },
        now=now,
    )


@dataclass(frozen=True)
class Opened:
    """One order as `open_orders` found it. `order` is None unless `outcome` is "ok"."""

    order_id: int
    version: int | None
    outcome: str  # ok | shredded | unreadable | missing | superseded
    order: Order | None


@dataclass(frozen=True)
class OpenedParts:
    """One claimed order as `claim_and_open` found it: its stored parts, PII opened, if "ok".

    `clear` is the row's clear JSON and `pii` the opened PII part (`classify.split`'s two
    halves), left unjoined: forwarding builds its document from them directly.
    """

    order_id: int
    version: int | None
    outcome: str  # ok | shredded | unreadable | missing | superseded
    clear: dict[str, Any] | None = field(default=None, repr=False)
    pii: dict[str, Any] | None = field(default=None, repr=False)


def open_orders(
    runtime: Runtime,
    order_ids: Collection[int],
    *,
    purpose: Purpose,
    actor: str,
    versions: Mapping[int, int] | None = None,
) -> dict[int, Opened]:
    """Open many orders with their PII, recording the access in the audit log; by order id.

    `versions` (order id -> version): an order whose stored version differs is not opened
    ("superseded"), so a worker holding an outdated outbox row decrypts nothing. Orders
    missing, superseded or without readable PII come back without an `order`. The audit
    events (one per outcome that opened or tried to: ok, unreadable, shredded; each listing
    its orders and counting them in `details["orders"]`) commit before this returns. Every
    decrypt counts towards the decrypt-rate alarm, whatever the purpose.
    """
    parts = _open_many(runtime, order_ids, versions, purpose=purpose, actor=actor, alarm=True)
    # Joined only now, after the events committed, as `open_order` does.
    return {
        order_id: Opened(
            order_id,
            found.version,
            found.outcome,
            None if found.clear is None else join(Order, found.clear, found.pii or {}),
        )
        for order_id, found in parts.items()
    }


def claim_and_open(
    runtime: Runtime,
    claim: Callable[[Session], Sequence[ClaimedDelivery]],
    *,
    worker_id: str,
) -> tuple[list[ClaimedDelivery], dict[int, OpenedParts]]:
    """Lease outbox rows with `claim` and open their orders, in one write transaction.

    `claim(session)` leases rows to `worker_id` in the given transaction and returns the rows
    to open (all of them, or those the caller can use); only rows leased to `worker_id` may be
    opened this way. The orders are read at the newest version any of the rows carries,
    decrypted, and audited as `open_orders` would with purpose `forward` and actor
    `worker:<worker_id>`, in the same transaction; the PII is handed out only once it has
    committed, so the lease and the audit event of every decrypt are durable before any
    plaintext leaves this function. One transaction instead of two per claim: a forwarding
    worker pays one commit (and its fsync) less per batch.

    Not counted by the decrypt-rate alarm: their rate is the delivery rate (pipeline/alarm.py
    says why that is left out).
    """
    with write_session(runtime.sessions) as session:
        claimed = list(claim(session))
        pending = _open_in(
            session, runtime, _newest_versions(claimed, worker_id), worker_id=worker_id
        )
    return claimed, pending.hand_out()


def _newest_versions(claimed: Sequence[ClaimedDelivery], worker_id: str) -> dict[int, int]:
    if any(row.leased_by != worker_id for row in claimed):
        raise ValueError("a worker opens only rows leased to this worker")
    newest: dict[int, int] = {}
    for row in claimed:
        newest[row.order_id] = max(row.order_version, newest.get(row.order_id, 0))
    return newest


def _open_in(
    session: Session, runtime: Runtime, newest: Mapping[int, int], *, worker_id: str
) -> _Pending:
    actor = f"worker:{worker_id}"
    if not newest:
        return _Pending({}, {}, {}, {})
    pending = _read_and_decrypt(session, runtime, newest, newest)
    _audit_opens(session, runtime, pending, purpose=Purpose.FORWARD, actor=actor, alarm=False)
    return pending


# The columns opening needs: loading whole ORM rows cost more than decrypting them. The clear
# JSON is read as text and parsed here (orjson), not by the driver's stdlib `json`.
_ORDERS = cast(sa.Table, OrderRow.__table__)
_OPEN_COLUMNS = (
    _ORDERS.c.id,
    _ORDERS.c.version,
    _ORDERS.c.client_id,
    _ORDERS.c.marketplace,
    _ORDERS.c.marketplace_order_id,
    _ORDERS.c.schema_version,
    _ORDERS.c.bucket_day,
    sa.cast(_ORDERS.c.clear, sa.Text).label("clear_json"),
    _ORDERS.c.pii_ciphertext,
    _ORDERS.c.wrapped_data_key,
)


@functools.cache
def _open_query(sqlite: bool) -> sa.Select[Any]:
    """Built once per dialect: building it per open cost more than the server's work."""
    return sa.select(*_OPEN_COLUMNS).where(id_in_param(_ORDERS.c.id, "ids", sqlite))


@dataclass
class _Pending:
    """Orders read and decrypted in a transaction that has not committed yet.

    The plaintext stays in here until `hand_out`, which the caller may only call once the
    transaction holding the audit events has committed.
    """

    opened: dict[int, OpenedParts]
    rows: dict[int, Any]
    plaintext: dict[int, dict[str, Any]]
    # (client id, outcome) -> rows: one audit event each.
    attempted: dict[tuple[str, str], list[Any]]

    def hand_out(self) -> dict[int, OpenedParts]:
        for order_id, pii in self.plaintext.items():
            row = self.rows[order_id]
            clear = orjson.loads(row.clear_json)
            self.opened[order_id] = OpenedParts(order_id, row.version, "ok", clear, pii)
        self.plaintext = {}
        return self.opened


def _read_and_decrypt(
    session: Session,
    runtime: Runtime,
    order_ids: Collection[int],
    versions: Mapping[int, int] | None,
) -> _Pending:
    query = _open_query(is_sqlite(session))
    rows = {row.id: row for row in session.execute(query, {"ids": list(order_ids)})}
    pending = _Pending({}, rows, {}, {})
    for order_id in order_ids:
        row = rows.get(order_id)
        if row is None:
            pending.opened[order_id] = OpenedParts(order_id, None, "missing")
            continue
        if versions is not None and versions.get(order_id, row.version) != row.version:
            pending.opened[order_id] = OpenedParts(order_id, row.version, "superseded")
            continue
        outcome, pii = _decrypt(runtime, row)
        if pii is not None:
            pending.plaintext[order_id] = pii
        pending.opened[order_id] = OpenedParts(order_id, row.version, outcome)
        pending.attempted.setdefault((row.client_id, outcome), []).append(row)
    return pending


def _audit_opens(
    session: Session,
    runtime: Runtime,
    pending: _Pending,
    *,
    purpose: Purpose,
    actor: str,
    alarm: bool,
) -> None:
    """One decrypt event per (client, outcome) that opened or tried to, in `session`."""
    if not pending.attempted:
        return
    now = runtime.clock()
    attempted = pending.attempted
    decrypted = sum(len(rows) for (_, outcome), rows in attempted.items() if outcome == "ok")
    counted = alarm and decrypted > 0
    alarm_count = runtime.decrypt_alarm.record(actor, now, decrypted) if counted else None
    for (client_id, outcome), group in attempted.items():
        # With the COMMIT: see `audit.append_at_commit`. The caller hands out no plaintext
        # before that commit.
        audit.append_at_commit(
            session,
            actor=actor,
            action="decrypt",
            client_id=client_id,
            subject={
                "order_ids": [row.id for row in group],
                "versions": [row.version for row in group],
                "bucket_days": [str(row.bucket_day) for row in group],
            },
            details={"purpose": purpose.value, "outcome": outcome, "orders": len(group)},
            now=now,
        )
        if outcome == "ok":
            metrics.record_decrypt(client_id, purpose.value, len(group))
    first_client = next(iter(attempted))[0]
    _append_alarm(runtime, session, first_client, actor, alarm_count, now)


def _open_many(
    runtime: Runtime,
    order_ids: Collection[int],
    versions: Mapping[int, int] | None,
    *,
    purpose: Purpose,
    actor: str,
    alarm: bool,
) -> dict[int, OpenedParts]:
    with runtime.sessions() as session:
        pending = _read_and_decrypt(session, runtime, order_ids, versions)
    if pending.attempted:
        with write_session(runtime.sessions) as session:
            _audit_opens(session, runtime, pending, purpose=purpose, actor=actor, alarm=alarm)
    # Handed out only now, after the events committed.
    return pending.hand_out()


def _decrypt(runtime: Runtime, row: Any) -> tuple[str, dict[str, Any] | None]:
    """(outcome, PII) of one order row: ("ok", pii), ("shredded", None) or ("unreadable", None)."""
    if row.pii_ciphertext is None or row.wrapped_data_key is None:
        return "shredded", None
    ref = RecordRef(row.client_id, row.marketplace, row.marketplace_order_id, row.schema_version)
    try:
        return "ok", orjson.loads(runtime.vault.open(ref, row.pii_ciphertext, row.wrapped_data_key))
    except DecryptError:
        return "unreadable", None

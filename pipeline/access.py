"""The one audited way to buyer PII: open orders' sealed parts for a stated purpose.

Every successful or failed open appends an audit event naming the order, the bucket, the
purpose and the actor, never the PII. The event is committed before plaintext is returned, so
no read of PII escapes the log. `open_order` opens one order (an operator's export, a support
case) and records one event; `open_orders` opens many (a worker forwarding a batch) with one
read and one event per outcome, whose subject lists the orders and whose details count them;
`open_claimed` is `open_orders` for a forwarding worker, limited to the orders of outbox rows it
has leased and left out of the decrypt-rate alarm (see its docstring for why).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from connectors.classify import join
from connectors.order import Order
from crypto import DecryptError, RecordRef
from pipeline import metrics
from pipeline.runtime import Runtime
from storage import audit, get_order, write_session
from storage.models import Order as OrderRow
from storage.outbox import ClaimedDelivery, id_in


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
    audit.append(
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
    """One claimed order as `open_claimed` found it: its stored parts, PII opened, if "ok".

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


def open_claimed(
    runtime: Runtime, claimed: Sequence[ClaimedDelivery], *, worker_id: str
) -> dict[int, OpenedParts]:
    """Open the orders of outbox rows this worker has just leased, to forward them; by order id.

    Audited exactly as `open_orders` with purpose `forward` and actor `worker:<worker_id>`
    (the events commit before this returns), and opened at the newest version any of the rows
    carries. Not counted by the decrypt-rate alarm: these decrypts are the pipeline delivering
    what it stored, one per leased outbox row and attempt, so their volume is the delivery
    volume (bounded by the outbox, `max_attempts`, and visible in the delivery and decrypt
    metrics), not a person or tool reading PII in bulk, which is what the alarm is for. A
    busy pipeline would otherwise raise a false alarm every minute, and an alarm that always
    fires hides the one that matters. Only rows leased to `worker_id` may be opened this way.
    """
    if any(row.leased_by != worker_id for row in claimed):
        raise ValueError("open_claimed opens only rows leased to this worker")
    newest: dict[int, int] = {}
    for row in claimed:
        newest[row.order_id] = max(row.order_version, newest.get(row.order_id, 0))
    return _open_many(
        runtime, newest, newest, purpose=Purpose.FORWARD, actor=f"worker:{worker_id}", alarm=False
    )


# The columns opening needs: loading whole ORM rows cost more than decrypting them.
_OPEN_COLUMNS = (
    OrderRow.id,
    OrderRow.version,
    OrderRow.client_id,
    OrderRow.marketplace,
    OrderRow.marketplace_order_id,
    OrderRow.schema_version,
    OrderRow.bucket_day,
    OrderRow.clear,
    OrderRow.pii_ciphertext,
    OrderRow.wrapped_data_key,
)


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
        query = sa.select(*_OPEN_COLUMNS).where(id_in(session, OrderRow.id, order_ids))
        rows = {row.id: row for row in session.execute(query)}
    opened: dict[int, OpenedParts] = {}
    plaintext: dict[int, dict[str, Any]] = {}
    attempted: dict[tuple[str, str], list[Any]] = {}
    for order_id in order_ids:
        row = rows.get(order_id)
        if row is None:
            opened[order_id] = OpenedParts(order_id, None, "missing")
            continue
        if versions is not None and versions.get(order_id, row.version) != row.version:
            opened[order_id] = OpenedParts(order_id, row.version, "superseded")
            continue
        outcome, pii = _decrypt(runtime, row)
        if pii is not None:
            plaintext[order_id] = pii
        opened[order_id] = OpenedParts(order_id, row.version, outcome)
        attempted.setdefault((row.client_id, outcome), []).append(row)
    if not attempted:
        return opened
    now = runtime.clock()
    decrypted = sum(len(rows) for (_, outcome), rows in attempted.items() if outcome == "ok")
    counted = alarm and decrypted > 0
    alarm_count = runtime.decrypt_alarm.record(actor, now, decrypted) if counted else None
    with write_session(runtime.sessions) as session:
        for (client_id, outcome), group in attempted.items():
            audit.append(
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
    # Handed out only now, after the events committed.
    for order_id, pii in plaintext.items():
        row = rows[order_id]
        opened[order_id] = OpenedParts(order_id, row.version, "ok", dict(row.clear), pii)
    return opened


def _decrypt(runtime: Runtime, row: Any) -> tuple[str, dict[str, Any] | None]:
    """(outcome, PII) of one order row: ("ok", pii), ("shredded", None) or ("unreadable", None)."""
    if row.pii_ciphertext is None or row.wrapped_data_key is None:
        return "shredded", None
    ref = RecordRef(row.client_id, row.marketplace, row.marketplace_order_id, row.schema_version)
    try:
        return "ok", orjson.loads(runtime.vault.open(ref, row.pii_ciphertext, row.wrapped_data_key))
    except DecryptError:
        return "unreadable", None

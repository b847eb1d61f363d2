"""The one audited way to buyer PII: open orders' sealed parts for a stated purpose.

Every successful or failed open appends an audit event naming the order, the bucket, the
purpose and the actor, never the PII. The event is committed before plaintext is returned, so
no read of PII escapes the log. `open_order` opens one order (an operator's export, a support
case) and records one event; `open_orders` opens many (a worker forwarding a batch) with one
read and one event per outcome, whose subject lists the orders and whose details count them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from connectors.classify import join
from connectors.order import Order
from crypto import DecryptError, RecordRef
from pipeline import metrics
from pipeline.runtime import Runtime
from storage import audit, get_order, write_session
from storage.models import Order as OrderRow


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
    its orders and counting them in `details["orders"]`) commit before this returns.
    """
    with runtime.sessions() as session:
        rows = {
            row.id: row
            for row in session.scalars(sa.select(OrderRow).where(OrderRow.id.in_(list(order_ids))))
        }
    opened: dict[int, Opened] = {}
    plaintext: dict[int, dict[str, object]] = {}
    attempted: dict[tuple[str, str], list[OrderRow]] = {}
    for order_id in order_ids:
        row = rows.get(order_id)
        if row is None:
            opened[order_id] = Opened(order_id, None, "missing", None)
            continue
        if versions is not None and versions.get(order_id, row.version) != row.version:
            opened[order_id] = Opened(order_id, row.version, "superseded", None)
            continue
        outcome, pii = _decrypt(runtime, row)
        if pii is not None:
            plaintext[order_id] = pii
        opened[order_id] = Opened(order_id, row.version, outcome, None)
        attempted.setdefault((row.client_id, outcome), []).append(row)
    if not attempted:
        return opened
    now = runtime.clock()
    decrypted = sum(len(rows) for (_, outcome), rows in attempted.items() if outcome == "ok")
    alarm_count = runtime.decrypt_alarm.record(actor, now, decrypted) if decrypted else None
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
    # Joined only now, after the events committed, as `open_order` does.
    for order_id, pii in plaintext.items():
        row = rows[order_id]
        opened[order_id] = Opened(order_id, row.version, "ok", join(Order, dict(row.clear), pii))
    return opened


def _decrypt(runtime: Runtime, row: OrderRow) -> tuple[str, dict[str, object] | None]:
    """(outcome, PII) of one order row: ("ok", pii), ("shredded", None) or ("unreadable", None)."""
    if row.pii_ciphertext is None or row.wrapped_data_key is None:
        return "shredded", None
    ref = RecordRef(row.client_id, row.marketplace, row.marketplace_order_id, row.schema_version)
    try:
        return "ok", json.loads(runtime.vault.open(ref, row.pii_ciphertext, row.wrapped_data_key))
    except DecryptError:
        return "unreadable", None

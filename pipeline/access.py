"""The one audited way to buyer PII: open an order's sealed part for a stated purpose.

Every successful or failed open appends an audit event naming the order, the bucket, the
purpose and the actor, never the PII. The event is committed before plaintext is returned, so
no read of PII escapes the log.
"""

from __future__ import annotations

import enum
import json

from connectors.classify import join
from connectors.order import Order
from crypto import DecryptError, RecordRef
from pipeline import metrics
from pipeline.runtime import Runtime
from storage import audit, get_order, write_session


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
    pii: dict[str, object] | None = None
    outcome = "shredded"
    if row.pii_ciphertext is not None and row.wrapped_data_key is not None:
        ref = RecordRef(
            row.client_id, row.marketplace, row.marketplace_order_id, row.schema_version
        )
        try:
            pii = json.loads(runtime.vault.open(ref, row.pii_ciphertext, row.wrapped_data_key))
            outcome = "ok"
            metrics.record_decrypt(row.client_id, purpose.value)
        except DecryptError:
            outcome = "unreadable"
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
        if alarm_count is not None:
            metrics.record_decrypt_alarm(row.client_id)
            audit.append(
                session,
                actor=actor,
                action="decrypt_alarm",
                client_id=row.client_id,
                subject={"actor": actor},
                details={
                    "decrypts_in_window": alarm_count,
                    "limit_per_minute": runtime.decrypt_alarm.limit_per_minute,
                },
                now=now,
            )
    if pii is None:
        raise PiiUnavailableError(f"order {order_id}: PII is {outcome}")
    return join(Order, dict(row.clear), pii)

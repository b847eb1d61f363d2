"""The sections read from the audit log: decrypts, erasures, operators, the chain itself."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pipeline.report.model import (
    AuditLogSection,
    Count,
    DecryptCount,
    DecryptsSection,
    Erasure,
    OperatorAction,
)
from pipeline.report.scope import Scope
from storage import audit
from storage.models import AuditEvent

__all__ = ["audit_log_section", "decrypts_section", "erasures", "operator_actions"]

# Actions that remove PII on request: a data-subject erasure, a client off-boarding.
_ERASURE_ORDERS = {"erase": "orders_erased", "offboard": "orders_shredded"}
OPERATOR_PREFIX = "operator:"


def _in_scope(scope: Scope) -> sa.ColumnElement[bool]:
    return sa.and_(
        scope.where_client(AuditEvent.client_id), scope.in_period(AuditEvent.occurred_at)
    )


def decrypts_section(session: Session, scope: Scope) -> DecryptsSection:
    rows = session.execute(
        sa.select(AuditEvent.actor, AuditEvent.details).where(
            AuditEvent.action == "decrypt", _in_scope(scope)
        )
    )
    by_key: Counter[tuple[str, str, str]] = Counter()
    for actor, details in rows:
        # A worker's batch open is one event counting its orders; an operator's, one order.
        opened = int(details.get("orders", 1))
        by_key[(str(details.get("purpose")), actor, str(details.get("outcome")))] += opened
    by_purpose: Counter[str] = Counter()
    for (purpose, _actor, _outcome), count in by_key.items():
        by_purpose[purpose] += count
    alarms = session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "decrypt_alarm", _in_scope(scope))
    )
    return DecryptsSection(
        total=sum(by_key.values()),
        by_purpose=[Count(purpose, n) for purpose, n in sorted(by_purpose.items())],
        by_actor=[DecryptCount(p, a, o, n) for (p, a, o), n in sorted(by_key.items())],
        alarms=int(alarms or 0),
    )


def erasures(session: Session, scope: Scope) -> list[Erasure]:
    rows = session.execute(
        sa.select(AuditEvent)
        .where(AuditEvent.action.in_(list(_ERASURE_ORDERS)), _in_scope(scope))
        .order_by(AuditEvent.id)
    ).scalars()
    return [
        Erasure(
            occurred_at=event.occurred_at,
            client_id=event.client_id,
            kind=event.action,
            actor=event.actor,
            orders=int(event.details.get(_ERASURE_ORDERS[event.action], 0)),
        )
        for event in rows
    ]


def operator_actions(session: Session, scope: Scope) -> list[OperatorAction]:
    rows = session.execute(
        sa.select(AuditEvent.actor, AuditEvent.action, sa.func.count())
        .where(AuditEvent.actor.startswith(OPERATOR_PREFIX), _in_scope(scope))
        .group_by(AuditEvent.actor, AuditEvent.action)
        .order_by(AuditEvent.actor, AuditEvent.action)
    )
    return [OperatorAction(actor, action, int(n)) for actor, action, n in rows]


def audit_log_section(session: Session, scope: Scope) -> AuditLogSection:
    """The chain is one for all clients: it is verified whole, whatever the scope."""
    result = audit.verify(session)
    head = audit.head(session)
    total = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    in_period = session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(_in_scope(scope))
    )
    return AuditLogSection(
        events=int(total or 0),
        events_in_period=int(in_period or 0),
        chain_valid=result.ok,
        checked=result.checked,
        first_bad_id=result.first_bad_id,
        problem=result.reason,
        head_id=None if head is None else head[0],
        head_hash=None if head is None else head[1],
    )

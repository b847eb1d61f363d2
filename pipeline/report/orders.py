"""The order-data sections: what is sealed, what is readable, how old it is, what is overdue."""

from __future__ import annotations

import math
from collections.abc import Mapping, Set
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pipeline.clients import AMAZON_MAX_RETENTION_DAYS, ClientConfig
from pipeline.report.model import (
    ClientRetention,
    Count,
    NonPiiSection,
    OrdersSection,
    RetentionSection,
)
from pipeline.report.scope import Scope
from pipeline.retention import non_pii_cutoff
from storage.models import Order

__all__ = ["client_retention", "non_pii_section", "orders_section", "retention_section"]


def _count(session: Session, scope: Scope, *conditions: sa.ColumnElement[bool]) -> int:
    query = sa.select(sa.func.count()).select_from(Order).where(scope.where_client(Order.client_id))
    return int(session.scalar(query.where(*conditions)) or 0)


def orders_section(
    session: Session, scope: Scope, active_buckets: Set[tuple[str, date]]
) -> OrdersSection:
    """Counts over every stored order in scope; `active_buckets` are the live (client, day)s."""
    holding = Order.shredded_at.is_(None)
    sealed_cond = sa.and_(
        holding, Order.pii_ciphertext.is_not(None), Order.wrapped_data_key.is_not(None)
    )
    total = _count(session, scope)
    holding_pii = _count(session, scope, holding)
    sealed_by_bucket = session.execute(
        sa.select(Order.client_id, Order.bucket_day, sa.func.count())
        .where(scope.where_client(Order.client_id), sealed_cond)
        .group_by(Order.client_id, Order.bucket_day)
    ).all()
    sealed = sum(int(n) for _c, _d, n in sealed_by_bucket)
    # Readable: sealed under a bucket key that still exists. Sealed under a dead key (a run
    # stopped between destroying and purging) is ciphertext nobody can open.
    readable = sum(int(n) for c, d, n in sealed_by_bucket if (c, d) in active_buckets)
    reasons = session.execute(
        sa.select(Order.shred_reason, sa.func.count())
        .where(scope.where_client(Order.client_id), Order.shredded_at.is_not(None))
        .group_by(Order.shred_reason)
        .order_by(Order.shred_reason)
    ).all()
    return OrdersSection(
        total=total,
        holding_pii=holding_pii,
        sealed=sealed,
        with_readable_pii=readable,
        shredded=total - holding_pii,
        pii_sealed_ratio=1.0 if holding_pii == 0 else sealed / holding_pii,
        shredded_by_reason=[Count(reason or "unknown", int(n)) for reason, n in reasons],
    )


def client_retention(client: ClientConfig) -> ClientRetention:
    marketplaces = [name for name in ("amazon", "ebay") if getattr(client, name)]
    return ClientRetention(
        client_id=client.id,
        retention_days=client.retention_days,
        legal_basis=client.retention.legal_basis,
        marketplaces=marketplaces,
    )


def retention_section(
    session: Session, scope: Scope, clients: Mapping[str, ClientConfig]
) -> RetentionSection:
    """Overdue readable PII, and the age after delivery (or cancellation) of all readable PII."""
    overdue = _count(
        session, scope, Order.expires_on <= scope.today, Order.pii_ciphertext.is_not(None)
    )
    done = session.execute(
        sa.select(Order.delivered_at, Order.cancelled_at).where(
            scope.where_client(Order.client_id),
            Order.pii_ciphertext.is_not(None),
            sa.or_(Order.delivered_at.is_not(None), Order.cancelled_at.is_not(None)),
        )
    ).all()
    ages_days = [
        max(0.0, (scope.now - done_at).total_seconds() / 86400)
        for delivered, cancelled in done
        if (done_at := delivered or cancelled) is not None
    ]
    in_scope = [clients[c] for c in scope.clients(list(clients)) if c in clients]
    configured = [client_retention(client) for client in in_scope]
    longest = max([c.retention_days for c in configured], default=AMAZON_MAX_RETENTION_DAYS)
    histogram = [0] * (max([math.floor(a) for a in ages_days] + [longest]) + 1)
    for age in ages_days:
        histogram[math.floor(age)] += 1
    return RetentionSection(
        overdue_readable=overdue,
        max_age_after_delivery_days=round(max(ages_days), 2) if ages_days else None,
        age_after_delivery_days=[Count(str(day), n) for day, n in enumerate(histogram)],
        clients=configured,
        legal_basis_exceptions=[c for c in configured if c.legal_basis],
    )


def non_pii_section(session: Session, scope: Scope) -> NonPiiSection:
    cutoff = non_pii_cutoff(scope.now)
    old = Order.purchased_at < cutoff
    return NonPiiSection(
        cutoff=cutoff,
        older_than_18_months=_count(session, scope, old, Order.shredded_at.is_not(None)),
        kept_with_pii_older_than_18_months=_count(session, scope, old, Order.shredded_at.is_(None)),
    )

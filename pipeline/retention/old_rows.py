"""DPP 1.7: order rows, even without PII, are kept at most 18 months (after purchase)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from pipeline.runtime import Runtime
from storage import audit, write_session
from storage.models import Order
from storage.statements import rowcount

__all__ = ["NON_PII_MONTHS", "OldRowsReport", "non_pii_cutoff", "purge_old_orders"]

NON_PII_MONTHS = 18


def non_pii_cutoff(now: datetime) -> datetime:
    """`now` minus 18 calendar months (the 31st becomes the month's last day)."""
    month_index = now.year * 12 + (now.month - 1) - NON_PII_MONTHS
    year, month = divmod(month_index, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (following - date(year, month, 1)).days
    return now.replace(year=year, month=month, day=min(now.day, last_day))


@dataclass(frozen=True)
class OldRowsReport:
    cutoff: datetime
    deleted: int
    # Older than the cutoff but still holding PII (a legal basis keeps it): not deleted here,
    # it goes with its bucket; the audit report lists it.
    kept_with_pii: int


def purge_old_orders(
    runtime: Runtime, now: datetime, *, actor: str, dry_run: bool = False
) -> OldRowsReport:
    """Delete shredded orders purchased before the cutoff, with their outbox rows."""
    cutoff = non_pii_cutoff(now)
    old = Order.purchased_at < cutoff
    with runtime.sessions() as session:
        kept = session.scalar(
            sa.select(sa.func.count()).select_from(Order).where(old, Order.shredded_at.is_(None))
        )
        if dry_run:
            due = session.scalar(
                sa.select(sa.func.count())
                .select_from(Order)
                .where(old, Order.shredded_at.is_not(None))
            )
            return OldRowsReport(cutoff, int(due or 0), int(kept or 0))
    with write_session(runtime.sessions) as session:
        # Deliveries and blind-index rows go with them (ON DELETE CASCADE).
        deleted = rowcount(
            session.execute(
                sa.delete(Order)
                .where(old, Order.shredded_at.is_not(None))
                .execution_options(synchronize_session=False)
            )
        )
        if deleted:
            audit.append(
                session,
                actor=actor,
                action="purge_non_pii",
                subject={"purchased_before": cutoff.isoformat()},
                details={"orders": deleted},
                now=now,
            )
    return OldRowsReport(cutoff, deleted, int(kept or 0))

"""What one report covers: which clients, which days, at what time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

__all__ = ["DEFAULT_PERIOD_DAYS", "ReportError", "Scope"]

Column = sa.ColumnElement[Any] | InstrumentedAttribute[Any]

#: Without --since, a report covers the 30 days up to and including --until.
DEFAULT_PERIOD_DAYS = 30


class ReportError(Exception):
    """The report cannot be made as asked (unknown client, period the wrong way round)."""


@dataclass(frozen=True)
class Scope:
    now: datetime
    since: date
    until: date
    # None: every client, including ones no longer configured whose rows remain.
    client_id: str | None

    @classmethod
    def make(
        cls,
        now: datetime,
        *,
        client_id: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Scope:
        until = now.astimezone(UTC).date() if until is None else until
        since = until - timedelta(days=DEFAULT_PERIOD_DAYS - 1) if since is None else since
        if since > until:
            raise ReportError(f"--since {since} is after --until {until}")
        return cls(now=now.astimezone(UTC), since=since, until=until, client_id=client_id)

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)

    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]

    def clients(self, configured: Sequence[str]) -> list[str]:
        if self.client_id is not None:
            return [self.client_id]
        return sorted(configured)

    def where_client(self, column: Column) -> sa.ColumnElement[bool]:
        if self.client_id is None:
            return sa.true()
        return column == self.client_id

    def in_period(self, column: Column) -> sa.ColumnElement[bool]:
        return sa.and_(column >= self.starts_at, column < self.ends_at)

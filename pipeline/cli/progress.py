"""How far a pull has got through its date range, and when it can end at the earliest.

Neither Orders API says how many orders a query matches, but every walk has a known range: a
backfill covers orders created in [after, before], a pull orders updated in it, and an eBay pull
walks ModTime windows from its start to a little before now. Progress is the share of that range
the walk has put behind it:

- Amazon: the latest creation (backfill) or update (pull) time on the pages read so far. Neither
  model promises an order for searchOrders or getOrders results; the fake serves them oldest
  first, and the latest time seen only measures progress while that holds. So the estimate
  stands while the pages arrive in date order; once a page goes back in time (unsorted results,
  or a walk restarted after Amazon refused its page token) the share and the ETA are withdrawn
  rather than shown wrong. The last page always reads 100%: the window is done.
- eBay: the windows completed, plus the pages read of the current one against the
  TotalNumberOfEntries its first page reported.

The ETA is the pace observed since this run's first page, never shorter than the usage plan
allows for the work left (counting the plan's burst as full when the pull started, so it is a
floor). eBay has no such floor: its daily budget refuses calls rather than slowing them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from connectors.amazon.resume import Window
from connectors.ebay.walk import Walk
from connectors.ratelimit import AMAZON_USAGE_PLANS, UsagePlan
from pipeline.clients import AmazonAccount, EbayAccount
from pipeline.pull import PullReport

__all__ = ["ORDERS_PER_PAGE", "Reading", "WalkProgress", "plan_pace"]

#: Orders per page the connectors ask for (the APIs' maximum).
ORDERS_PER_PAGE = 100
# Orders a second apart may be sorted on a finer clock than the payload shows.
_ORDER_SLACK = timedelta(minutes=1)

Unit = Literal["pages", "orders"]
Measure = Literal["created", "updated", "modified"]


@dataclass(frozen=True)
class Reading:
    """Where a walk stands after a page."""

    share: float | None  # of the range behind the walk, 0..1; None: no estimate to stand behind
    reached_at: datetime | None = None
    measure: Measure | None = None  # what `reached_at` is the time of
    note: str = ""  # what to show instead of a share


@dataclass(frozen=True)
class _Plan:
    plan: UsagePlan
    unit: Unit  # one call per page, or (getOrderItems) one per order


class WalkProgress:
    """One account's walk, read page by page. `*_s` arguments are monotonic seconds."""

    def __init__(self, account: AmazonAccount | EbayAccount, *, started_s: float) -> None:
        self._account = account
        self._started_s = started_s
        self._plans = _plans(account)
        self._latest: datetime | None = None  # Amazon: the latest in-range time seen
        self._out_of_order = False
        self._units: dict[Unit, int] = {"pages": 0, "orders": 0}
        self._first: tuple[float, float, dict[Unit, int]] | None = None  # share, at, units
        self.reading = Reading(None, note=plan_pace(account))

    def read(self, report: PullReport, now_s: float) -> Reading:
        self._units = {"pages": report.pages, "orders": report.orders + report.quarantined}
        try:
            if isinstance(self._account, EbayAccount):
                reading = _ebay(Walk.from_state(report.page_state))
            else:
                reading = self._amazon(report, Window.from_state(report.page_state))
        except ValueError:  # not a state this version reads: say only what the plan allows
            reading = Reading(None, note=plan_pace(self._account))
        if reading.share is not None and self._first is None:
            self._first = (reading.share, now_s, dict(self._units))
        self.reading = reading
        return reading

    def eta_s(self, now_s: float) -> float | None:
        """Seconds left: the pace so far, or what the plan allows if that is longer."""
        share = self.reading.share
        if share is None or self._first is None:
            return None
        if share >= 1.0:
            return 0.0
        first_share, first_s, first_units = self._first
        gained = share - first_share
        if gained <= 0 or now_s <= first_s:
            return None
        # The work left, in multiples of the work done since the first page.
        left = (1.0 - share) / gained
        floors = [
            self._floor_s(p, (self._units[p.unit] - first_units[p.unit]) * left, now_s)
            for p in self._plans
        ]
        return max([(now_s - first_s) * left, *floors])

    def _floor_s(self, plan: _Plan, calls: float, now_s: float) -> float:
        # At most a full burst at the start, refilled since: an upper bound on the tokens left.
        refilled = (now_s - self._started_s) * plan.plan.rate_per_s
        tokens = min(plan.plan.burst, plan.plan.burst - self._units[plan.unit] + refilled)
        return max(0.0, calls - max(0.0, tokens)) / plan.plan.rate_per_s

    def _amazon(self, report: PullReport, window: Window) -> Reading:
        measure: Measure = "created" if window.stream == "backfill" else "updated"
        if window.done:
            return _at(window.after, window.before, window.before, measure)
        times = report.page_purchased_at if measure == "created" else report.page_updated_at
        for at in times:
            if not window.after <= at <= window.before:
                continue  # updated again after the window was fixed: says nothing of the walk
            if self._latest is not None and at < self._latest - _ORDER_SLACK:
                self._out_of_order = True
            self._latest = at if self._latest is None else max(self._latest, at)
        if self._out_of_order:
            return Reading(None, measure=measure, note="pages went back in time: no estimate")
        if self._latest is None:
            return Reading(None, note=plan_pace(self._account))
        return _at(window.after, window.before, self._latest, measure)


def _ebay(walk: Walk) -> Reading:
    if walk.done:
        return _at(walk.walk_from, walk.walk_to, walk.walk_to, "modified")
    within = 0.0
    if walk.entries:
        pages = math.ceil(walk.entries / ORDERS_PER_PAGE)
        within = min(1.0, (walk.page - 1) / pages)
    at = walk.window_from + (walk.window_to - walk.window_from) * within
    return _at(walk.walk_from, walk.walk_to, at, "modified")


def _at(start: datetime, end: datetime, at: datetime, measure: Measure) -> Reading:
    span_s = (end - start).total_seconds()
    share = 1.0 if span_s <= 0 else (at - start).total_seconds() / span_s
    return Reading(min(1.0, max(0.0, share)), min(max(at, start), end), measure)


def _plans(account: AmazonAccount | EbayAccount) -> tuple[_Plan, ...]:
    if isinstance(account, EbayAccount):
        return ()
    if account.orders_api == "v0":
        return (
            _Plan(AMAZON_USAGE_PLANS["ordersV0.getOrders"], "pages"),
            _Plan(AMAZON_USAGE_PLANS["ordersV0.getOrderItems"], "orders"),
        )
    return (_Plan(AMAZON_USAGE_PLANS["orders.searchOrders"], "pages"),)


def plan_pace(account: AmazonAccount | EbayAccount) -> str:
    """What the usage plan allows once its burst is spent: the floor under any ETA.

    v2026 pages are bound by searchOrders, v0 pages by one getOrderItems call per order.
    """
    if isinstance(account, EbayAccount):
        return "eBay: daily call budget"
    if account.orders_api == "v0":
        items = AMAZON_USAGE_PLANS["ordersV0.getOrderItems"]
        seconds = ORDERS_PER_PAGE / items.rate_per_s
        burst = items.burst
        return f"plan: ~{seconds:.0f} s/page of {ORDERS_PER_PAGE} once {burst} item calls are spent"
    search = AMAZON_USAGE_PLANS["orders.searchOrders"]
    return (
        f"plan: ~{1 / search.rate_per_s:.0f} s/page once the burst of {search.burst} pages is spent"
    )

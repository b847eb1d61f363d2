"""The eBay daily call budget in the database: one count for every worker, a fresh one each day."""

from __future__ import annotations

import threading
from datetime import date

import sqlalchemy as sa

from connectors.ebay import CallBudget
from storage import SqlCallBudget
from storage.models import RateBucket
from tests.fixtures.databases import MigratedDatabase

KEY = "ebay/acme/acme-ebay"
DAY = date(2026, 11, 21)


def test_the_limit_holds_and_a_new_day_starts_from_zero(data_db: MigratedDatabase) -> None:
    budget: CallBudget = SqlCallBudget(data_db.sessions)
    assert [budget.take(KEY, DAY, 3) for _ in range(5)] == [True, True, True, False, False]
    assert budget.take("ebay/acme/other", DAY, 3)  # another account has its own count
    next_day = date(2026, 11, 22)
    assert budget.take(KEY, next_day, 3)
    with data_db.sessions() as session:
        keys = set(session.scalars(sa.select(RateBucket.key)))
    assert keys == {f"budget:{KEY}:2026-11-22", "budget:ebay/acme/other:2026-11-21"}


def test_concurrent_workers_never_exceed_the_budget(data_db: MigratedDatabase) -> None:
    budget = SqlCallBudget(data_db.sessions)
    granted: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            ok = budget.take(KEY, DAY, 25)
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 25
    assert budget.used(KEY, DAY) == 25

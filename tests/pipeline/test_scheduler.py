"""The scheduler: due-ness from rows, doubled and missed ticks, one scheduler only, `--once`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from connectors.fakes.ebay_trading import FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from pipeline.cli import app
from pipeline.cli import scheduler_cmd as _scheduler_cmd  # noqa: F401  (registers the command)
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.jobs.pull_actor import PULL_QUEUE
from pipeline.scheduler import (
    EXPIRE_STREAM,
    GLOBAL_KEY,
    Scheduler,
    SchedulerLockHeld,
    scheduler_lock,
)
from storage import get_cursor, save_cursor, write_session
from storage.models import AuditEvent, Order
from tests.configs import ENVIRON
from tests.fixtures.databases import MigratedDatabase
from tests.fixtures.marketplaces import acme_pulling_from
from tests.fixtures.runtime import Deployment, FakeClock

AMAZON_ORDERS = 12
EBAY_ORDERS = 6
PULLS = ["pull acme/amazon/acme-eu", "pull acme/ebay/acme-ebay"]


@pytest.fixture
def amazon_orders() -> int:
    return AMAZON_ORDERS


@pytest.fixture
def ebay_orders() -> int:
    return EBAY_ORDERS


@pytest.fixture
def acme_toml(spapi: FakeSpApi, ebay: FakeEbayTrading, tmp_path: Path) -> str:
    """acme pulls from the fakes and delivers into a folder."""
    return acme_pulling_from(spapi, ebay, tmp_path / "delivered")


@pytest.fixture
def jobs(deployment: Deployment) -> Iterator[Jobs]:
    jobs = Jobs(make_broker("inline"), deployment.runtime)
    yield jobs
    jobs.close()


def queued(jobs: Jobs, queue: str) -> int:
    broker = jobs.broker
    return broker.queues[queue].qsize() if queue in broker.get_declared_queues() else 0  # type: ignore[attr-defined]


def cli(deployment: Deployment, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["--config", str(deployment.root / "ordervault.toml"), *args], env=ENVIRON
    )
    return result.exit_code, result.output


# --- what is due ---------------------------------------------------------------------------------


def test_first_tick_enqueues_every_account_the_sweep_and_expiry(
    deployment: Deployment, jobs: Jobs
) -> None:
    report = Scheduler(jobs).tick()
    assert report.enqueued == [*PULLS, "sweep", "expire"]
    assert queued(jobs, PULL_QUEUE) == 2
    assert queued(jobs, "ordervault-maintenance") == 2


def test_a_doubled_tick_enqueues_nothing_new(deployment: Deployment, jobs: Jobs) -> None:
    scheduler = Scheduler(jobs)
    scheduler.tick()
    # The same tick again, and a restarted scheduler (a fresh object) at the same moment.
    assert scheduler.tick().enqueued == []
    assert Scheduler(jobs).tick().enqueued == []
    assert queued(jobs, PULL_QUEUE) == 2
    assert queued(jobs, "ordervault-maintenance") == 2


def test_intervals_come_from_the_rows(deployment: Deployment, jobs: Jobs, clock: FakeClock) -> None:
    scheduler = Scheduler(jobs)
    scheduler.tick()
    clock.advance(seconds=29)
    assert scheduler.tick().enqueued == []
    clock.advance(seconds=1)
    assert scheduler.tick().enqueued == ["sweep"]
    clock.advance(minutes=14, seconds=29)  # 14:59 after the pulls were sent
    assert scheduler.tick().enqueued == ["sweep"]
    clock.advance(seconds=1)  # 15:00: the pulls are due, the sweep (sent at 14:59) is not
    assert scheduler.tick().enqueued == PULLS


def test_missed_ticks_enqueue_each_job_once(
    deployment: Deployment, jobs: Jobs, clock: FakeClock
) -> None:
    scheduler = Scheduler(jobs)
    scheduler.tick()
    clock.advance(hours=3)  # the scheduler was down: 12 pulls and 360 sweeps were missed
    assert scheduler.tick().enqueued == [*PULLS, "sweep"]
    assert queued(jobs, PULL_QUEUE) == 4


def test_a_recent_pull_of_the_account_postpones_its_scheduled_pull(
    deployment: Deployment, jobs: Jobs, clock: FakeClock
) -> None:
    scheduler = Scheduler(jobs)
    scheduler.tick()
    clock.advance(minutes=10)
    # An operator ran `ordervault pull` for the Amazon account ten minutes after the schedule.
    with write_session(deployment.runtime.sessions) as session:
        save_cursor(
            session, "acme", "amazon", "acme-eu", "incremental", position_at=None, state={},
            now=clock.now,
        )  # fmt: skip
    clock.advance(minutes=5)
    assert scheduler.tick().enqueued == ["pull acme/ebay/acme-ebay", "sweep"]
    clock.advance(minutes=10)
    assert scheduler.tick().enqueued == ["pull acme/amazon/acme-eu", "sweep"]


def test_expiry_runs_on_the_first_tick_of_each_utc_day(
    deployment: Deployment, jobs: Jobs, clock: FakeClock
) -> None:
    scheduler = Scheduler(jobs)
    clock.now = clock.now.replace(hour=23, minute=59)
    assert "expire" in scheduler.tick().enqueued
    clock.advance(seconds=30)
    assert "expire" not in scheduler.tick().enqueued  # same UTC day
    clock.advance(seconds=30)  # 00:00 the next day
    assert "expire" in scheduler.tick().enqueued
    with deployment.runtime.sessions() as session:
        row = get_cursor(session, *GLOBAL_KEY, EXPIRE_STREAM)
    assert row is not None
    assert row.updated_at == clock.now


# --- the pull actor ------------------------------------------------------------------------------


def test_a_pull_sent_before_the_account_was_last_pulled_does_nothing(
    deployment: Deployment, jobs: Jobs, clock: FakeClock
) -> None:
    pull = Scheduler(jobs).pull
    with write_session(deployment.runtime.sessions) as session:
        save_cursor(
            session, "acme", "amazon", "acme-eu", "incremental", position_at=None, state={},
            now=clock.now,
        )  # fmt: skip
    pull.fn("acme", "amazon", "acme-eu", (clock.now - timedelta(seconds=1)).isoformat())
    pull.fn("acme", "amazon", "gone-account", clock.now.isoformat())
    pull.fn("gone-client", "amazon", "acme-eu", clock.now.isoformat())
    with deployment.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
        pulled = sa.select(sa.func.count()).select_from(AuditEvent)
        assert session.scalar(pulled.where(AuditEvent.action != "config_load")) == 0

    pull.fn("acme", "amazon", "acme-eu", clock.now.isoformat())  # sent after: it pulls
    with deployment.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == AMAZON_ORDERS


# --- the command ---------------------------------------------------------------------------------


def test_scheduler_once_pulls_and_forwards_with_the_inline_broker(
    deployment: Deployment, clock: FakeClock, tmp_path: Path
) -> None:
    now = clock.now.isoformat()
    code, output = cli(deployment, "scheduler", "--once", "--now", now)
    assert code == 0, output
    assert "4 job(s) enqueued" in output
    stored = AMAZON_ORDERS + EBAY_ORDERS
    with deployment.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == stored
    delivered = sum(
        len(f.read_text().splitlines()) for f in (tmp_path / "delivered").glob("*.jsonl")
    )
    assert delivered == stored

    code, output = cli(deployment, "scheduler", "--once", "--now", now)
    assert code == 0, output
    assert "0 job(s) enqueued, 4 not due" in output


def test_now_without_once_is_refused(deployment: Deployment) -> None:
    code, output = cli(deployment, "scheduler", "--now", "2026-10-02T12:00:00Z")
    assert code == 2
    assert "--once" in output


def test_a_second_scheduler_is_refused_with_exit_code_3(deployment: Deployment) -> None:
    with scheduler_lock(deployment.runtime.data_engine):
        code, output = cli(deployment, "scheduler", "--once")
    assert code == 3
    assert "another scheduler" in output
    assert "only one may run" in output
    with deployment.runtime.sessions() as session:
        assert get_cursor(session, *GLOBAL_KEY, "schedule:sweep") is None


# --- exclusivity ---------------------------------------------------------------------------------


def test_only_one_scheduler_lock_at_a_time(data_db: MigratedDatabase) -> None:
    other_engine = sa.create_engine(data_db.url)  # a second process would have its own
    try:
        with scheduler_lock(data_db.engine) as lock:
            lock.check()
            with (
                pytest.raises(SchedulerLockHeld, match="only one may run"),
                scheduler_lock(other_engine),
            ):
                pass
        with scheduler_lock(other_engine):  # released when the first scheduler stops
            pass
    finally:
        other_engine.dispose()

"""The pull/backfill progress: share of the date range behind the walk, an ETA never shorter
than the usage plan allows, and a log that stays a few lines long off a terminal."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from connectors.amazon.resume import Stream, Window
from connectors.ebay import InMemoryCallBudget
from connectors.ebay.walk import Walk
from connectors.fakes.ebay_trading import FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from connectors.ratelimit import AMAZON_USAGE_PLANS, BlockingLimiter, MemoryBuckets
from pipeline.cli import app
from pipeline.cli.progress import WalkProgress
from pipeline.cli.progress_display import HEARTBEAT_S, pull_display
from pipeline.clients import AmazonAccount, EbayAccount
from pipeline.config import load_config
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.pull import Puller, PullReport
from tests.configs import ENVIRON, write_config
from tests.fixtures.marketplaces import acme_pulling_from
from tests.fixtures.runtime import Deployment, FakeClock

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=100)
DAY = timedelta(days=1)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.s = 0.0

    def __call__(self) -> float:
        return self.s


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> tuple[AmazonAccount, EbayAccount]:
    config = load_config(write_config(tmp_path_factory.mktemp("cfg")), environ=ENVIRON)
    acme = config.client("acme")
    return acme.amazon[0], acme.ebay[0]


@pytest.fixture
def amazon(accounts: tuple[AmazonAccount, EbayAccount]) -> AmazonAccount:
    return accounts[0]


@pytest.fixture
def ebay_account(accounts: tuple[AmazonAccount, EbayAccount]) -> EbayAccount:
    return accounts[1]


def _window(*, stream: Stream = "backfill", done: bool = False) -> dict[str, Any]:
    return Window(
        stream=stream,
        api="2026-01-01",
        marketplace_ids=("A1PA6795UKMFR9",),
        after=START,
        before=END,
        position_at=START,
        token=None if done else "next",
        token_at=None if done else START,
        done=done,
    ).to_state()


def _amazon_page(pages: int, *days: float, done: bool = False) -> PullReport:
    times = tuple(START + d * DAY for d in days)
    return PullReport(
        pages=pages,
        orders=100 * pages,
        page_state=_window(done=done),
        page_purchased_at=times,
        page_updated_at=times,
    )


# -- what share of the range, and how it is measured --------------------------------------------


def test_an_amazon_backfill_reads_the_latest_creation_time_seen(amazon: AmazonAccount) -> None:
    progress = WalkProgress(amazon, started_s=0)
    assert progress.reading.share is None
    assert "s/page" in progress.reading.note  # the plan's pace until a page arrives
    first = progress.read(_amazon_page(1, 3, 5, 10), now_s=1)
    assert (first.share, first.reached_at, first.measure) == (0.1, START + 10 * DAY, "created")
    assert progress.read(_amazon_page(2, 10, 24.5, 25), now_s=2).share == 0.25
    # The window is done: all of it is behind the walk, whatever the last order's date.
    assert progress.read(_amazon_page(3, 26, done=True), now_s=3).share == 1.0
    assert progress.eta_s(3) == 0.0


def test_pages_going_back_in_time_withdraw_the_estimate(amazon: AmazonAccount) -> None:
    progress = WalkProgress(amazon, started_s=0)
    progress.read(_amazon_page(1, 20, 40), now_s=1)
    back = progress.read(_amazon_page(2, 5, 6), now_s=2)
    assert back.share is None
    assert "went back in time" in back.note
    assert progress.eta_s(2) is None
    # Later pages in order do not restore it: the walk's position is no longer known...
    assert progress.read(_amazon_page(3, 50, 60), now_s=3).share is None
    # ...but its end is.
    assert progress.read(_amazon_page(4, 70, done=True), now_s=4).share == 1.0


def test_a_pull_ignores_orders_updated_after_its_window_was_fixed(amazon: AmazonAccount) -> None:
    progress = WalkProgress(amazon, started_s=0)
    late = END + timedelta(minutes=5)  # updated again while the window was being walked
    report = PullReport(
        pages=1,
        orders=3,
        page_state=_window(stream="pull"),
        page_updated_at=(START + 10 * DAY, late, START + 20 * DAY),
    )
    reading = progress.read(report, now_s=1)
    assert (reading.share, reading.measure) == (0.2, "updated")


def test_an_ebay_walk_counts_finished_windows_and_pages_of_the_current_one(
    ebay_account: EbayAccount,
) -> None:
    progress = WalkProgress(ebay_account, started_s=0)
    window = Walk.open(START, END, max_window=timedelta(days=25))
    # Page 1 of 4 (350 entries) in the first window: a quarter of its 25 days.
    first = window.after_page(has_more=True, entries=350)
    reading = progress.read(PullReport(pages=1, page_state=first.to_state()), now_s=1)
    assert reading.share == pytest.approx(6.25 / 100)
    assert reading.measure == "modified"
    second_window = (
        first.after_page(has_more=True, entries=350)
        .after_page(has_more=True, entries=350)
        .after_page(has_more=False, entries=350)
    )
    reading = progress.read(PullReport(pages=4, page_state=second_window.to_state()), now_s=2)
    assert reading.share == 0.25
    assert progress.eta_s(2) == pytest.approx((2 - 1) * 0.75 / (0.25 - 0.0625))


# -- the ETA ---------------------------------------------------------------------------------


def test_the_eta_is_the_pace_so_far_once_the_plan_is_not_the_limit(amazon: AmazonAccount) -> None:
    progress = WalkProgress(amazon, started_s=0)
    search = AMAZON_USAGE_PLANS["orders.searchOrders"]
    pace_s = search.interval_s  # one page per interval: exactly what the plan allows
    progress.read(_amazon_page(1, 1), now_s=pace_s)
    progress.read(_amazon_page(2, 2), now_s=2 * pace_s)
    # 1% of the range per page, 98 pages to go at the observed pace.
    assert progress.eta_s(2 * pace_s) == pytest.approx(98 * pace_s)


def test_the_eta_is_never_shorter_than_the_plan_allows(amazon: AmazonAccount) -> None:
    progress = WalkProgress(amazon, started_s=0)
    search = AMAZON_USAGE_PLANS["orders.searchOrders"]
    # The burst: 20 pages in 20 seconds, 1% of the range each.
    for page in range(1, 21):
        progress.read(_amazon_page(page, page), now_s=page)
    eta_s = progress.eta_s(20)
    assert eta_s is not None
    observed_s = 19 * 80 / 19  # 80 pages left at a page a second
    tokens = 20 - 20 + 20 * search.rate_per_s  # at most what refilled since the start
    assert eta_s == pytest.approx((80 - tokens) / search.rate_per_s)
    assert eta_s > 100 * observed_s


def test_a_v0_eta_counts_one_order_items_call_per_order(amazon: AmazonAccount) -> None:
    progress = WalkProgress(amazon.model_copy(update={"orders_api": "v0"}), started_s=0)
    items = AMAZON_USAGE_PLANS["ordersV0.getOrderItems"]
    progress.read(_amazon_page(1, 10), now_s=10)
    progress.read(_amazon_page(2, 20), now_s=20)
    eta_s = progress.eta_s(20)
    # 8 more pages of 100 orders; at most `burst` item calls are left after 200 in 20 s.
    tokens = min(items.burst, items.burst - 200 + 20 * items.rate_per_s)
    assert eta_s == pytest.approx((800 - max(tokens, 0)) / items.rate_per_s)


# -- the display -----------------------------------------------------------------------------


def _log_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=60), out


def test_off_a_terminal_a_long_backfill_logs_a_line_per_tenth_not_per_page(
    amazon: AmazonAccount,
) -> None:
    console, out = _log_console()
    ticks = Ticks()
    with pull_display(console, monotonic=ticks) as display:
        shown = display.account("acme amazon:acme-eu", amazon)
        for page in range(1, 201):  # half a percent of the range per page
            ticks.s += 20  # pages as fast as a burst: the plan's pace sets the ETA
            shown.page(_amazon_page(page, page / 2, done=page == 200))
        shown.finish(_amazon_page(200, 100, done=True))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + 9 + 1  # started, 10% .. 90%, done
    assert lines[0] == (
        "acme amazon:acme-eu: started (plan: ~179 s/page once the burst of 20 pages is spent)"
    )
    assert lines[1].startswith("acme amazon:acme-eu:  10% created to 2026-01-11 00:00; 20 pages")
    assert lines[5].startswith("acme amazon:acme-eu:  50% created to 2026-02-20 00:00; 100 pages")
    assert lines[5].endswith("ETA 4:57:37")  # 100 more pages at the plan's pace, not 0:33:20
    assert lines[-1] == "acme amazon:acme-eu: done: 200 pages, 20000 orders in 1:06:40"
    assert all("\x1b" not in line for line in lines)  # no terminal codes in a log


def test_off_a_terminal_a_slow_stretch_still_logs_a_heartbeat(amazon: AmazonAccount) -> None:
    console, out = _log_console()
    ticks = Ticks()
    with pull_display(console, monotonic=ticks) as display:
        shown = display.account("acme amazon:acme-eu", amazon)
        shown.page(_amazon_page(1, 1))
        ticks.s += HEARTBEAT_S - 1
        shown.page(_amazon_page(2, 2))  # same tenth, too soon: nothing
        ticks.s += 2
        shown.page(_amazon_page(3, 3))  # same tenth, but a while since the last line
        shown.finish(PullReport(pages=3, orders=300, error="stopped by a test"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "3 pages, 300 orders; ETA" in lines[1]
    assert lines[2].startswith("acme amazon:acme-eu: stopped after 3 pages, 300 orders in")


def test_on_a_terminal_the_bar_fills_and_ends_at_100_percent(amazon: AmazonAccount) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    ticks = Ticks()
    with pull_display(console, monotonic=ticks) as display:
        shown = display.account("acme amazon:acme-eu", amazon)
        for page in range(1, 5):
            ticks.s += 10
            shown.page(_amazon_page(page, 25 * page, done=page == 4))
        shown.finish(_amazon_page(4, 100, done=True))
    final = out.getvalue().rsplit("\r", 1)[-1]
    assert "100% created to 2026-04-11 00:00" in final
    assert "4 pages, 400 orders" in final
    assert "ETA 0:00:00" in final


# -- against the fake SP-API -----------------------------------------------------------------

FAKE_ORDERS = 450  # five pages of a hundred


@pytest.fixture
def amazon_orders() -> int:
    return FAKE_ORDERS


@pytest.fixture
def orders_api() -> str:
    return "2026-01-01"


@pytest.fixture
def acme_toml(spapi: FakeSpApi, ebay: FakeEbayTrading, tmp_path: Path, orders_api: str) -> str:
    return acme_pulling_from(spapi, ebay, tmp_path / "delivered", orders_api=orders_api)


@pytest.fixture
def puller(deployment: Deployment, spapi: FakeSpApi) -> Iterator[Puller]:
    jobs = Jobs(make_broker("inline"), deployment.runtime)
    limiter = BlockingLimiter(MemoryBuckets(), clock=spapi.clock.now, sleep=spapi.clock.sleep)
    yield Puller(deployment.runtime, jobs, limiter, InMemoryCallBudget(), sleep=spapi.clock.sleep)
    jobs.close()


@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
@pytest.mark.parametrize("orders_api", ["2026-01-01", "v0"])
def test_a_fake_backfill_serves_pages_in_date_order_and_the_share_only_grows(
    deployment: Deployment, puller: Puller, clock: FakeClock
) -> None:
    client = deployment.config.client("acme")
    account = client.amazon[0]
    progress = WalkProgress(account, started_s=0)
    shares: list[float | None] = []

    def on_page(report: PullReport) -> None:
        shares.append(progress.read(report, now_s=len(shares) + 1).share)

    report = puller.pull(
        client,
        account,
        stream="backfill",
        since=clock.now - timedelta(days=30),
        on_page=on_page,
    )
    assert report.error is None
    assert report.pages == len(shares) == 5
    known = [share for share in shares if share is not None]
    assert known == shares  # never went back in time
    assert known == sorted(known)
    assert 0 < known[0] < known[-2] < 1.0 == known[-1]
    assert progress.eta_s(len(shares)) == 0.0


@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
def test_a_fake_ebay_pull_moves_window_by_window(
    deployment: Deployment, puller: Puller, clock: FakeClock
) -> None:
    client = deployment.config.client("acme")
    progress = WalkProgress(client.ebay[0], started_s=0)
    shares: list[float | None] = []

    def on_page(report: PullReport) -> None:
        shares.append(progress.read(report, now_s=len(shares) + 1).share)

    since = clock.now - timedelta(days=85)  # three ModTime windows of at most 29 days
    report = puller.pull(client, client.ebay[0], since=since, on_page=on_page)
    assert report.error is None
    span_s = (clock.now - timedelta(minutes=2) - since).total_seconds()
    assert shares == [
        pytest.approx(29 * 86_400 / span_s),
        pytest.approx(58 * 86_400 / span_s),
        1.0,
    ]


@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
def test_the_backfill_command_logs_progress_lines_off_a_terminal(
    deployment: Deployment, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")
    since = (clock.now - timedelta(days=30)).date().isoformat()
    result = CliRunner().invoke(
        app,
        [
            "--config",
            str(deployment.config.path),
            "backfill",
            "--client",
            "acme",
            "--since",
            since,
            "--now",
            clock.now.isoformat(),
        ],
    )
    assert result.exit_code == 0, result.output + result.stderr
    lines = [line for line in result.output.splitlines() if line.startswith("acme amazon:")]
    assert lines[0].startswith("acme amazon:acme-eu: started (plan: ")
    assert lines[-1].startswith("acme amazon:acme-eu: done: 5 pages, 450 orders in ")
    assert 3 <= len(lines) <= 2 + 4  # a line per tenth reached, never one per page
    assert all("created to" in line for line in lines[1:-1])

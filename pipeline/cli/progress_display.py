"""What `pull` and `backfill` show while they run: a Rich bar per account on a terminal, a few
plain lines anywhere else.

A log (CI, a pipe, a file) keeps every line, so it gets one when an account starts, at each
tenth of its range, after `HEARTBEAT_S` without one (a long plan-paced wait is not a hang), and
when it ends; never a redrawn frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress_bar import ProgressBar
from rich.text import Text

from pipeline.cli.progress import Reading, WalkProgress
from pipeline.clients import AmazonAccount, EbayAccount
from pipeline.pull import PullReport

__all__ = ["HEARTBEAT_S", "AccountDisplay", "PullDisplay", "pull_display"]

#: The longest a log goes without a line from a running account.
HEARTBEAT_S = 600.0

Monotonic = Callable[[], float]


class AccountDisplay(Protocol):
    def page(self, report: PullReport) -> None: ...
    def finish(self, report: PullReport) -> None: ...


class PullDisplay(Protocol):
    def account(self, label: str, account: AmazonAccount | EbayAccount) -> AccountDisplay: ...


@contextmanager
def pull_display(
    console: Console, *, monotonic: Monotonic = time.monotonic
) -> Iterator[PullDisplay]:
    if not console.is_terminal or console.is_dumb_terminal:
        yield _Log(console, monotonic)
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        _ShareBar(bar_width=30),
        TextColumn("{task.fields[where]}"),
        TextColumn("· {task.fields[pages]} pages, {task.fields[orders]} orders ·"),
        _Eta(),
        TimeElapsedColumn(),
        console=console,
        get_time=monotonic,
    ) as bar:
        yield _Bars(bar, monotonic)


def _where(reading: Reading) -> str:
    """The share and how far it reaches, e.g. ` 42% created to 2026-02-11 14:05`."""
    if reading.share is None or reading.reached_at is None:
        return reading.note
    return f"{reading.share:4.0%} {reading.measure} to {reading.reached_at:%Y-%m-%d %H:%M}"


def _clock_text(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=max(0, round(seconds))))


# -- a terminal -------------------------------------------------------------------------------


class _ShareBar(BarColumn):
    """The share of the range behind the walk (not Rich's completed/total); pulses without one."""

    def render(self, task: Task) -> ProgressBar:
        share = task.fields.get("share")
        return ProgressBar(
            total=1.0,
            completed=share or 0.0,
            width=self.bar_width,
            pulse=share is None and not task.finished,
            animation_time=task.get_time(),
        )


class _Eta(ProgressColumn):
    """Counts down between pages from the deadline the last page set."""

    def render(self, task: Task) -> Text:
        ends_at_s = task.fields.get("ends_at_s")
        left = None if ends_at_s is None else ends_at_s - task.get_time()
        return Text(f"ETA {_clock_text(left)}", style="progress.remaining")


class _Bars:
    def __init__(self, bar: Progress, monotonic: Monotonic) -> None:
        self._bar = bar
        self._monotonic = monotonic

    def account(self, label: str, account: AmazonAccount | EbayAccount) -> AccountDisplay:
        progress = WalkProgress(account, started_s=self._monotonic())
        task = self._bar.add_task(
            label, share=None, where=_where(progress.reading), pages=0, orders=0, ends_at_s=None
        )
        return _Bar(self._bar, task, progress, self._monotonic)


class _Bar:
    def __init__(
        self, bar: Progress, task: TaskID, progress: WalkProgress, monotonic: Monotonic
    ) -> None:
        self._bar, self._task, self._progress, self._monotonic = bar, task, progress, monotonic

    def page(self, report: PullReport) -> None:
        now_s = self._monotonic()
        reading = self._progress.read(report, now_s)
        eta_s = self._progress.eta_s(now_s)
        self._bar.update(
            self._task,
            share=reading.share,
            where=_where(reading),
            pages=report.pages,
            orders=report.orders,
            ends_at_s=None if eta_s is None else now_s + eta_s,
        )

    def finish(self, report: PullReport) -> None:
        done = report.error is None
        reading = self._progress.reading
        self._bar.update(
            self._task,
            total=1,
            completed=1,  # stops the spinner; the bar itself reads `share`
            share=1.0 if done else reading.share,
            where=_where(reading) if done and report.pages else _ended(report),
            pages=report.pages,
            orders=report.orders,
            ends_at_s=self._monotonic() if done else None,
        )
        self._bar.stop_task(self._task)


# -- a log ------------------------------------------------------------------------------------


class _Log:
    def __init__(self, console: Console, monotonic: Monotonic) -> None:
        self._console = console
        self._monotonic = monotonic

    def account(self, label: str, account: AmazonAccount | EbayAccount) -> AccountDisplay:
        progress = WalkProgress(account, started_s=self._monotonic())
        return _LogLines(self._console, label, progress, self._monotonic)


class _LogLines:
    def __init__(
        self, console: Console, label: str, progress: WalkProgress, monotonic: Monotonic
    ) -> None:
        self._console, self._label, self._progress = console, label, progress
        self._monotonic = monotonic
        self._started_s = self._said_s = monotonic()
        self._tenths = 0
        self._say(f"started ({progress.reading.note})")

    def page(self, report: PullReport) -> None:
        now_s = self._monotonic()
        reading = self._progress.read(report, now_s)
        if reading.share is not None and reading.share >= 1.0:
            return  # `finish` says it
        tenths = self._tenths if reading.share is None else int(reading.share * 10)
        if tenths <= self._tenths and now_s - self._said_s < HEARTBEAT_S:
            return
        self._tenths = max(self._tenths, tenths)
        self._said_s = now_s
        eta = _clock_text(self._progress.eta_s(now_s))
        self._say(f"{_where(reading)}; {_counts(report)}; ETA {eta}")

    def finish(self, report: PullReport) -> None:
        took = _clock_text(self._monotonic() - self._started_s)
        if report.error is not None:
            self._say(f"stopped after {_counts(report)} in {took} (see the table)")
        elif report.pages == 0:
            self._say(f"nothing to fetch ({took})")
        else:
            self._say(f"done: {_counts(report)} in {took}")

    def _say(self, text: str) -> None:
        # Never wrapped or coloured: a log line is read, grepped and copied as it is.
        self._console.print(f"{self._label}: {text}", soft_wrap=True, markup=False, highlight=False)


def _ended(report: PullReport) -> str:
    return "nothing to fetch" if report.error is None else "stopped (see the table)"


def _counts(report: PullReport) -> str:
    return f"{report.pages} pages, {report.orders} orders"

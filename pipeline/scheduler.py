"""The scheduler: enqueue the periodic jobs when the data says they are due. Only one runs.

What is due is decided from rows, never from timers in memory: each periodic job keeps a row in
`sync_cursors` (stream `schedule:<job>`) whose `updated_at` is when it was last enqueued, and a
pull is also not due while the account's own incremental cursor shows a recent pull (a manual
`ordervault pull`, say). The row is written in the transaction that sends the message, so a
doubled tick (two ticks at the same time, or a restarted scheduler) enqueues nothing new, and a
missed tick (the scheduler was down for an hour) enqueues each job once, not once per tick.

Exclusivity: on PostgreSQL a session-level advisory lock held on one connection for the
scheduler's life; on SQLite an exclusive `fcntl` lock on a file next to the data database. A
second scheduler is refused with `SchedulerLockHeld`.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import dramatiq
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import is_inline
from pipeline.jobs.pull_actor import PULL_ACTOR, register_pull_actor
from storage import get_cursor, save_cursor, write_session

log = logging.getLogger(__name__)

SWEEP_EVERY = timedelta(seconds=30)
#: How often the running scheduler looks at the schedule; a job is never late by more.
DEFAULT_TICK_S = 5.0

#: Key columns of the `sync_cursors` rows that hold deployment-wide jobs (not per account).
GLOBAL_KEY = ("*", "*", "scheduler")
PULL_STREAM = "schedule:pull"
SWEEP_STREAM = "schedule:sweep"
EXPIRE_STREAM = "schedule:expire"

#: Advisory lock id: the first 8 bytes of a hash of a fixed name (locks are per database).
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"ordervault:scheduler").digest()[:8], "big", signed=True
)


class SchedulerLockHeld(Exception):
    """Another scheduler runs against this database."""


class SchedulerLockLost(Exception):
    """The connection that held the PostgreSQL advisory lock is gone; stop scheduling."""


# --- exclusivity -------------------------------------------------------------------------------


class _PostgresLock:
    def __init__(self, engine: sa.Engine) -> None:
        self._conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = self._conn.execute(
            sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        ).scalar_one()
        if not got:
            self._conn.close()
            raise SchedulerLockHeld(
                "another scheduler holds this database's scheduler lock "
                f"(PostgreSQL advisory lock {ADVISORY_LOCK_KEY}); only one may run"
            )

    def check(self) -> None:
        try:
            self._conn.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as exc:
            raise SchedulerLockLost("lost the connection holding the scheduler lock") from exc

    def release(self) -> None:
        try:
            self._conn.execute(
                sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
        except sa.exc.DBAPIError:
            pass  # the session is gone, and the lock with it
        finally:
            self._conn.close()


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = open(path, "a+")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            raise SchedulerLockHeld(f"another scheduler holds {path}; only one may run") from None
        self._file.truncate(0)
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def check(self) -> None:
        pass  # an flock lives as long as our open file; nothing can take it away

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def lock_file_for(engine: sa.Engine) -> Path:
    """The lock file of an SQLite data database: beside it, so it names that deployment."""
    database = engine.url.database
    assert database, "an SQLite data database is a file (enforced by the settings)"
    return Path(database).with_name(Path(database).name + ".scheduler.lock")


@contextmanager
def scheduler_lock(engine: sa.Engine) -> Iterator[_PostgresLock | _FileLock]:
    """Hold the one-scheduler lock for the data database of `engine`, or raise SchedulerLockHeld."""
    lock: _PostgresLock | _FileLock
    if engine.dialect.name == "postgresql":
        lock = _PostgresLock(engine)
    else:
        lock = _FileLock(lock_file_for(engine))
    try:
        yield lock
    finally:
        lock.release()


# --- what is due -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One periodic job: its schedule row, when it is due, and how to send it."""

    name: str  # for logs and reports: "pull acme/amazon/acme-eu", "sweep", "expire"
    stream: str
    key: tuple[str, str, str]  # client_id, marketplace, account of the schedule row
    is_due: Callable[[Session, datetime, datetime | None], bool]
    send: Callable[[datetime], None]


def every(interval: timedelta) -> Callable[[Session, datetime, datetime | None], bool]:
    def is_due(session: Session, now: datetime, last: datetime | None) -> bool:
        return last is None or now - last >= interval

    return is_due


def once_a_day(session: Session, now: datetime, last: datetime | None) -> bool:
    # On the first tick of each UTC day: bucket keys are destroyed at the start of their day.
    return last is None or last.date() < now.date()


def pull_due(
    client_id: str, marketplace: str, account: str, interval: timedelta
) -> Callable[[Session, datetime, datetime | None], bool]:
    def is_due(session: Session, now: datetime, last: datetime | None) -> bool:
        pulled = get_cursor(session, client_id, marketplace, account, "incremental")
        times = [t for t in (last, pulled.updated_at if pulled else None) if t is not None]
        return not times or now - max(times) >= interval

    return is_due


@dataclass
class TickReport:
    enqueued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class Scheduler:
    jobs: Jobs

    def __post_init__(self) -> None:
        # `Jobs` registers the pull actor itself once it calls `register_pull_actor`; until
        # then (and for a broker another Scheduler already registered it on) look it up.
        existing = self.jobs.broker.actors.get(PULL_ACTOR)
        self.pull: dramatiq.Actor[..., Any] = (
            existing if isinstance(existing, dramatiq.Actor) else register_pull_actor(self.jobs)
        )

    def entries(self) -> list[Entry]:
        config = self.jobs.runtime.config
        found: list[Entry] = []
        for client in config.clients.values():
            interval = timedelta(minutes=client.schedule.pull_every_minutes)
            accounts = [("amazon", a.account) for a in client.amazon]
            accounts += [("ebay", e.account) for e in client.ebay]
            for marketplace, account in accounts:
                found.append(
                    Entry(
                        name=f"pull {client.id}/{marketplace}/{account}",
                        stream=PULL_STREAM,
                        key=(client.id, marketplace, account),
                        is_due=pull_due(client.id, marketplace, account, interval),
                        send=self._send_pull(client.id, marketplace, account),
                    )
                )
        found.append(
            Entry(
                "sweep", SWEEP_STREAM, GLOBAL_KEY, every(SWEEP_EVERY), self._send(self.jobs.sweep)
            )
        )
        expire = getattr(self.jobs, "expire", None)
        if isinstance(expire, dramatiq.Actor):
            found.append(Entry("expire", EXPIRE_STREAM, GLOBAL_KEY, once_a_day, self._send(expire)))
        return found

    def _send_pull(
        self, client_id: str, marketplace: str, account: str
    ) -> Callable[[datetime], None]:
        def send(now: datetime) -> None:
            self.pull.send(client_id, marketplace, account, now.isoformat())

        return send

    @staticmethod
    def _send(actor: dramatiq.Actor[..., Any]) -> Callable[[datetime], None]:
        def send(now: datetime) -> None:
            actor.send()

        return send

    def tick(self, now: datetime | None = None) -> TickReport:
        """Enqueue every job that is due at `now` (default: the runtime's clock)."""
        at = now or self.jobs.runtime.clock()
        report = TickReport()
        for entry in self.entries():
            # The message is sent inside the transaction that records it: if the send fails,
            # the row rolls back and the next tick tries again; if the commit fails after the
            # send, the job runs once more than planned, which every job tolerates.
            with write_session(self.jobs.runtime.sessions) as session:
                row = get_cursor(session, *entry.key, entry.stream)
                if not entry.is_due(session, at, row.updated_at if row else None):
                    report.skipped.append(entry.name)
                    continue
                save_cursor(session, *entry.key, entry.stream, position_at=at, state={}, now=at)
                entry.send(at)
            report.enqueued.append(entry.name)
        if report.enqueued:
            log.info("scheduler enqueued: %s", ", ".join(report.enqueued))
        return report

    def drain(self, *, fail_fast: bool = True) -> None:
        """Inline broker only: run what was enqueued, and what that enqueued, to completion."""
        broker = self.jobs.broker
        if not is_inline(broker):
            return
        self.jobs.drain()
        stub: Any = broker  # StubBroker: join and queues are not on dramatiq.Broker
        while True:
            names = sorted(q for q in broker.get_declared_queues() if not q.endswith(".DQ"))
            for name in names:
                stub.join(name, fail_fast=fail_fast)
            if all(stub.queues[name].unfinished_tasks == 0 for name in names):
                return

    def run(self, lock: _PostgresLock | _FileLock, stop: threading.Event, tick_s: float) -> None:
        """Tick every `tick_s` seconds until `stop` is set or the lock is lost."""
        while not stop.is_set():
            lock.check()
            try:
                self.tick()
                self.drain(fail_fast=False)
            except (sa.exc.SQLAlchemyError, dramatiq.DramatiqError, OSError) as exc:
                # The database or broker is away for a moment; the next tick tries again.
                log.warning("scheduler tick failed: %s", exc)
            stop.wait(tick_s)

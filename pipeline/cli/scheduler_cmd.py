"""`ordervault scheduler`: enqueue the periodic jobs (pulls, sweep, expiry); only one may run."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from pipeline.cli.app import app, console, err_console, state
from pipeline.cli.options import parse_now
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.runtime import Runtime
from pipeline.scheduler import (
    DEFAULT_TICK_S,
    Scheduler,
    SchedulerLockHeld,
    SchedulerLockLost,
    scheduler_lock,
)

log = logging.getLogger(__name__)

#: Exit code when another scheduler already runs against this database.
EXIT_LOCK_HELD = 3


@app.command("scheduler")
def scheduler_command(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Run one tick (and, inline, its work), then exit.")
    ] = False,
    now: Annotated[
        str | None, typer.Option(help="Clock for --once (ISO 8601 with offset).")
    ] = None,
    tick_s: Annotated[
        float, typer.Option(min=0.5, max=300, help="Seconds between ticks.")
    ] = DEFAULT_TICK_S,
) -> None:
    """Enqueue each client's pulls, the outbox sweep and the daily expiry when they are due."""
    if now is not None and not once:
        err_console.print("--now fixes the clock, which only makes sense with --once")
        raise typer.Exit(code=2)
    config = state(ctx).load()
    fixed = parse_now(now) if now is not None else None
    runtime = Runtime.open(config, clock=lambda: fixed) if fixed else Runtime.open(config)
    broker = make_broker(config.settings.broker.connect_url)
    jobs = Jobs(broker, runtime)
    try:
        with scheduler_lock(runtime.data_engine) as lock:
            scheduler = Scheduler(jobs)
            if once:
                report = scheduler.tick()
                scheduler.drain()
                for name in report.enqueued:
                    console.print(f"enqueued {name}", highlight=False)
                console.print(
                    f"{len(report.enqueued)} job(s) enqueued, {len(report.skipped)} not due",
                    highlight=False,
                )
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            log.info("scheduler started (tick every %.1f s)", tick_s)
            scheduler.run(lock, stop, tick_s)
            log.info("scheduler stopped")
    except SchedulerLockHeld as exc:
        err_console.print(f"[red]error:[/] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(code=EXIT_LOCK_HELD) from None
    except SchedulerLockLost as exc:
        err_console.print(f"[red]error:[/] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(code=1) from None
    finally:
        jobs.close()
        broker.close()
        runtime.close()

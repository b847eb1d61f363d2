"""`ordervault worker`: consume the broker's queues."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.app import app, err_console, state
from pipeline.jobs.process import run_workers


@app.command("worker")
def worker_command(
    ctx: typer.Context,
    processes: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, max=256, help="Threads per process.")] = 4,
) -> None:
    """Run workers for the configured broker until SIGTERM or Ctrl-C."""
    current = state(ctx)
    config = current.load()
    if config.settings.broker.url == "inline":
        err_console.print(
            "the inline broker runs work inside each command; set [broker] url to "
            "amqp://... or redis://... to run separate workers"
        )
        raise typer.Exit(code=2)
    run_workers(current.config_file, processes=processes, threads=threads)

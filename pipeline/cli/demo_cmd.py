"""`ordervault demo`: the whole product on embedded defaults, in a work folder."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pipeline.cli.app import app, console
from pipeline.cli.options import parse_now
from pipeline.demo import run_demo


@app.command("demo")
def demo(
    workdir: Annotated[
        Path, typer.Option(help="Folder to build the demo deployment in (rewritten).")
    ] = Path("demo-work"),
    now: Annotated[
        str | None, typer.Option(help="Pretend it is this time (ISO 8601, with offset).")
    ] = None,
    orders: Annotated[int, typer.Option(min=1, max=5000, help="Orders per account.")] = 150,
) -> None:
    """Run ordervault end to end on embedded defaults and print what it did."""
    current: datetime = parse_now(now)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done)

        report = run_demo(
            workdir.absolute(), now=current, orders_per_account=orders, progress=progress
        )
    table = Table(title=f"ordervault demo in {report.workdir}", title_justify="left")
    table.add_column("step", style="bold")
    table.add_column("outcome", overflow="fold")
    for step, outcome in report.steps:
        table.add_row(step, outcome)
    console.print(table)

"""`ordervault expire [--now ISO] [--dry-run]`: shred every bucket whose day has come."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pipeline.cli.app import app, console, state
from pipeline.cli.options import parse_now
from pipeline.retention import (
    BucketResult,
    ExpiryPlan,
    ExpiryReport,
    MoveReport,
    OldRowsReport,
    plan_expiry,
    run_expiry,
)
from pipeline.runtime import Runtime


@app.command("expire")
def expire(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option(help="Clock (ISO 8601 with offset).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be destroyed; change nothing.")
    ] = False,
) -> None:
    """Destroy every bucket key whose day has begun (UTC) and purge what it protected."""
    config = state(ctx).load()
    at = parse_now(now)
    with Runtime.open(config, clock=lambda: at) as runtime:
        if dry_run:
            _print_plan(plan_expiry(runtime, at))
            return
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("destroying bucket keys", total=None)

            def on_bucket(result: BucketResult) -> None:
                bar.update(task, advance=1, description=f"{result.client_id} {result.day}")

            report = run_expiry(
                runtime, at, on_start=lambda n: bar.update(task, total=n), on_bucket=on_bucket
            )
    _print_report(report)


def _print_moves(moves: MoveReport, *, would: bool) -> None:
    verb = "would move" if would else "moved"
    console.print(
        f"data keys {verb}: {moves.moved}; orders {'to shred' if would else 'shredded'} "
        f"individually: {moves.shredded}"
        + (f"; changed meanwhile: {moves.raced}" if moves.raced else "")
        + (
            f"; skipped (client not configured): {moves.skipped_unknown_client}"
            if moves.skipped_unknown_client
            else ""
        )
    )


def _print_old_rows(old: OldRowsReport, *, would: bool) -> None:
    console.print(
        f"order rows purchased before {old.cutoff.date()} "
        f"{'to delete' if would else 'deleted'}: {old.deleted}"
        + (f" (kept, still holding PII: {old.kept_with_pii})" if old.kept_with_pii else "")
    )


def _print_plan(plan: ExpiryPlan) -> None:
    table = Table(title=f"would destroy at {plan.now.isoformat()}", title_justify="left")
    for column in ("client", "bucket day", "orders", "quarantined"):
        table.add_column(column)
    for bucket in plan.buckets:
        table.add_row(
            bucket.client_id, str(bucket.day), str(bucket.orders), str(bucket.quarantined)
        )
    console.print(table)
    _print_moves(plan.moves, would=True)
    _print_old_rows(plan.old_rows, would=True)
    console.print("dry run: nothing changed")


def _print_report(report: ExpiryReport) -> None:
    table = Table(title=f"destroyed at {report.now.isoformat()}", title_justify="left")
    for column in ("client", "bucket day", "key id", "commitment", "orders", "quarantined"):
        table.add_column(column, overflow="fold")
    for b in report.buckets:
        table.add_row(
            b.client_id,
            str(b.day),
            b.key_id,
            b.commitment or "(no key was ever created)",
            str(b.orders),
            str(b.quarantined),
        )
    console.print(table)
    console.print(
        f"{len(report.buckets)} bucket key(s) destroyed, {report.orders_shredded} order(s) shredded"
    )
    _print_moves(report.moves, would=False)
    if report.old_rows is not None:
        _print_old_rows(report.old_rows, would=False)

"""`ordervault client offboard ID`: destroy a client's keys and purge its PII (DPP 1.7)."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.app import app, console, err_console, state
from pipeline.cli.options import parse_now
from pipeline.dsar import DsarError, operator_actor
from pipeline.retention import offboard_client
from pipeline.runtime import Runtime

client_app = typer.Typer(help="Client life cycle.", no_args_is_help=True)
app.add_typer(client_app, name="client")


@client_app.command("offboard")
def offboard(
    ctx: typer.Context,
    client_id: Annotated[str, typer.Argument(metavar="ID", help="Client id.")],
    now: Annotated[str | None, typer.Option(help="Clock (ISO 8601 with offset).")] = None,
    operator: Annotated[
        str | None, typer.Option(help="Who runs this, for the audit log (default: OS user).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Destroy every bucket key of a client and purge all its PII. Irreversible; audited.

    The client's clear order rows stay until the 18-month limit; remove its client file so
    nothing new is pulled.
    """
    config = state(ctx).load()
    at = parse_now(now)
    try:
        actor = operator_actor(operator or getpass.getuser())
    except DsarError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    if not yes:
        typer.confirm(
            f"Destroy every key of client {client_id!r}? Its PII can never be read again",
            abort=True,
        )
    try:
        with Runtime.open(config, clock=lambda: at) as runtime:
            report = offboard_client(runtime, client_id, now=at, actor=actor)
    except ValueError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    table = Table(title=f"client {client_id} off-boarded", title_justify="left")
    for column in ("bucket day", "key id", "orders", "quarantined"):
        table.add_column(column)
    for b in report.buckets:
        table.add_row(str(b.day), b.key_id, str(b.orders), str(b.quarantined))
    console.print(table)
    console.print(
        f"{len(report.buckets)} bucket key(s) destroyed, {report.orders_shredded} order(s) shredded"
    )
    if report.index_key_destroyed:
        console.print("blind-index key destroyed")

"""`ordervault db upgrade`: migrate the data database and the key store."""

from __future__ import annotations

import typer

from pipeline.cli.app import app, console, err_console, state
from storage import MigrationError, current_revision, upgrade_all

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Migrate both databases to the newest schema (idempotent)."""
    settings = state(ctx).load().settings
    try:
        upgrade_all(settings.database.connect_url, settings.keystore.url)
    except MigrationError as exc:
        err_console.print(f"[red]migration failed:[/] {exc}")
        raise typer.Exit(code=1) from None
    data = current_revision(settings.database.connect_url, keystore=False)
    keys = current_revision(settings.keystore.url, keystore=True)
    console.print(f"data database at [bold]{data}[/], key store at [bold]{keys}[/]")

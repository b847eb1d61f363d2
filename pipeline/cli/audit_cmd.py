"""`ordervault audit verify`: walk the hash chain and report OK or the first broken row."""

from __future__ import annotations

import typer

from pipeline.cli.app import app, console, err_console, state
from storage import audit, create_engine, session_factory

audit_app = typer.Typer(help="The audit log and the DPP evidence.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Check every audit event against its predecessor; exit 1 at the first broken row."""
    settings = state(ctx).load().settings
    engine = create_engine(settings.database.connect_url)
    try:
        with session_factory(engine)() as session:
            result = audit.verify(session)
    finally:
        engine.dispose()
    if result.ok:
        console.print(f"[green]audit chain OK[/]: {result.checked} event(s) verified")
        return
    err_console.print(
        f"[red]audit chain BROKEN[/] at event {result.first_bad_id}: {result.reason} "
        f"({result.checked} event(s) checked before it)"
    )
    raise typer.Exit(code=1)

"""`ordervault dsar export | erase`: one buyer's orders, found through the blind index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.app import app, console, err_console, state
from pipeline.cli.options import parse_now
from pipeline.dsar import DsarError, IdentifierKind, Subject, erase, export
from pipeline.runtime import Runtime

dsar_app = typer.Typer(help="Data-subject requests (export, erasure).", no_args_is_help=True)
app.add_typer(dsar_app, name="dsar")

ClientOpt = Annotated[str, typer.Option("--client", help="Client id.")]
EmailOpt = Annotated[str | None, typer.Option("--email", help="The buyer's email address.")]
BuyerIdOpt = Annotated[
    str | None,
    typer.Option(
        "--buyer-id",
        help="Marketplace buyer id; also matched as eBay eiasToken and username.",
    ),
]
OperatorOpt = Annotated[str, typer.Option("--operator", help="Your name, for the audit log.")]
NowOpt = Annotated[str | None, typer.Option(help="Clock (ISO 8601 with offset).")]


def _subject(email: str | None, buyer_id: str | None) -> Subject:
    if (email is None) == (buyer_id is None):
        raise typer.BadParameter("give exactly one of --email and --buyer-id")
    if email is not None:
        return Subject(IdentifierKind.EMAIL, email)
    assert buyer_id is not None
    return Subject(IdentifierKind.BUYER_ID, buyer_id)


@dsar_app.command("export")
def export_cmd(
    ctx: typer.Context,
    client: ClientOpt,
    operator: OperatorOpt,
    out: Annotated[Path, typer.Option("--out", help="JSON file to write (mode 0600).")],
    email: EmailOpt = None,
    buyer_id: BuyerIdOpt = None,
    now: NowOpt = None,
) -> None:
    """Write one buyer's orders, PII included, to a JSON file readable only by you."""
    subject = _subject(email, buyer_id)
    config = state(ctx).load()
    at = parse_now(now)
    try:
        with Runtime.open(config, clock=lambda: at) as runtime:
            report = export(runtime, client, subject, operator=operator, out=out)
    except DsarError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    console.print(f"{len(report.order_ids)} order(s) written to {report.path} (mode 0600)")
    if report.unavailable_order_ids:
        console.print(
            f"{len(report.unavailable_order_ids)} order(s) found but already unreadable: "
            + ", ".join(map(str, report.unavailable_order_ids))
        )


@dsar_app.command("erase")
def erase_cmd(
    ctx: typer.Context,
    client: ClientOpt,
    operator: OperatorOpt,
    email: EmailOpt = None,
    buyer_id: BuyerIdOpt = None,
    now: NowOpt = None,
) -> None:
    """Destroy the data keys and PII of one buyer's orders at once. Irreversible; audited."""
    subject = _subject(email, buyer_id)
    config = state(ctx).load()
    at = parse_now(now)
    try:
        with Runtime.open(config, clock=lambda: at) as runtime:
            report = erase(runtime, client, subject, operator=operator)
    except DsarError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    console.print(
        f"{len(report.order_ids)} order(s) erased"
        + (": " + ", ".join(map(str, report.order_ids)) if report.order_ids else "")
    )

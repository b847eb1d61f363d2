"""`ordervault config check`: validate every file and show what the deployment will do."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from pipeline.cli.app import app, console, err_console, state
from pipeline.clients import ClientConfig, WebhookDestination
from pipeline.settings import mask_passwords

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _accounts(client: ClientConfig) -> str:
    amazon = [f"amazon:{a.account} ({a.region}, orders {a.orders_api})" for a in client.amazon]
    ebay = [f"ebay:{e.account} (site {e.site_id})" for e in client.ebay]
    return "\n".join(amazon + ebay) or "-"


def _destinations(client: ClientConfig) -> str:
    rows = []
    for d in client.destinations:
        if isinstance(d, WebhookDestination):
            rows.append(
                f"{d.name}: webhook {d.url}"
                + (f" batch {d.batch_size}" if d.batch_size > 1 else "")
            )
        elif d.type == "sftp":
            rows.append(f"{d.name}: sftp {d.username}@{d.host}:{d.port}")
        else:
            rows.append(f"{d.name}: directory {d.path}")
    return "\n".join(rows) or "-"


def _retention(client: ClientConfig) -> str:
    text = f"{client.retention.days_after_delivery} d after delivery"
    if client.retention.legal_basis:
        text += f"\nlegal basis: {client.retention.legal_basis}"
    return text


@config_app.command("check")
def check(ctx: typer.Context) -> None:
    """Validate the settings and every client file; report every problem at once."""
    config = state(ctx).load()
    settings = config.settings
    console.print(f"[bold]settings[/] {config.path}")
    database, keystore, broker = (
        escape(mask_passwords(url))  # an IPv6 host's brackets are not markup
        for url in (settings.database.url, settings.keystore.url, settings.broker.url)
    )
    console.print(
        f"  database {database} · key store {keystore}"
        f" · root key {settings.kms.provider} · broker {broker}",
        highlight=False,
    )
    for field, advice in settings.inline_passwords():
        # Named, never shown: the point of the warning is that the password sits in a file
        # that gets copied, diffed and pasted into tickets.
        err_console.print(
            f"[yellow]warning:[/] {escape(str(config.path))}: [bold]{field}[/]: "
            "holds a password inline "
            f"(a secret is never inline elsewhere in the configuration; {advice})",
            soft_wrap=True,
            highlight=False,
        )
    table = Table(title=f"{len(config.clients)} client(s)", title_justify="left")
    for column in ("client", "accounts", "destinations", "retention", "PII dropped"):
        table.add_column(column, overflow="fold")
    for client in config.clients.values():
        table.add_row(
            f"{client.id}\n{client.name}",
            _accounts(client),
            _destinations(client),
            _retention(client),
            "\n".join(client.pii.drop) or "-",
        )
    console.print(table)
    console.print("[green]configuration OK[/]")

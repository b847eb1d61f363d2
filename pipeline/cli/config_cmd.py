"""`ordervault config check`: validate every file and show what the deployment will do."""

from __future__ import annotations

import typer
from rich.table import Table

from pipeline.cli.app import app, console, state
from pipeline.clients import ClientConfig, WebhookDestination

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
    console.print(
        f"  database {_redact(settings.database.url)} · key store {_redact(settings.keystore.url)}"
        f" · root key {settings.kms.provider} · broker {_redact(settings.broker.url)}"
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


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    if url.startswith(("sqlite", "postgresql")):
        return make_url(url).render_as_string(hide_password=True)
    if "@" in url:  # amqp://user:password@host -> amqp://user:***@host
        scheme, _, rest = url.partition("://")
        creds, _, host = rest.rpartition("@")
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url

"""`ordervault pull` and `ordervault backfill`: fetch orders from the marketplaces."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.app import app, console, err_console, state
from pipeline.cli.options import parse_now
from pipeline.cli.progress_display import pull_display
from pipeline.clients import AmazonAccount, ClientConfig, EbayAccount
from pipeline.config import Config
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.pull import Puller, PullReport, Stream
from pipeline.runtime import Runtime


@contextmanager
def _puller(config: Config, now: str | None) -> Iterator[Puller]:
    fixed = parse_now(now) if now else None
    clock = (lambda: fixed) if fixed is not None else None
    runtime = Runtime.open(config, clock=clock) if clock else Runtime.open(config)
    broker = make_broker(config.settings.broker.connect_url)
    jobs = Jobs(broker, runtime)
    try:
        yield Puller.for_runtime(runtime, jobs)
        jobs.drain()  # inline broker: forward what was pulled before returning
    finally:
        jobs.close()
        broker.close()
        runtime.close()


def _run(
    puller: Puller,
    work: list[tuple[ClientConfig, AmazonAccount | EbayAccount]],
    *,
    stream: Stream,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[str, str, PullReport]]:
    results = []
    with pull_display(console) as display:
        for client, account in work:
            marketplace = "amazon" if isinstance(account, AmazonAccount) else "ebay"
            name = f"{marketplace}:{account.account}"
            shown = display.account(f"{client.id} {name}", account)
            report = puller.pull(
                client, account, stream=stream, since=since, until=until, on_page=shown.page
            )
            shown.finish(report)
            results.append((client.id, name, report))
    return results


def _print(results: list[tuple[str, str, PullReport]]) -> bool:
    table = Table(title_justify="left")
    for column in (
        "client",
        "account",
        "pages",
        "new",
        "changed",
        "unchanged",
        "quarantined",
        "error",
    ):
        table.add_column(column, overflow="fold")
    ok = True
    for client_id, account, r in results:
        ok = ok and r.error is None
        table.add_row(
            client_id,
            account,
            str(r.pages),
            str(r.created),
            str(r.updated),
            str(r.unchanged),
            str(r.quarantined),
            r.error or "",
        )
    console.print(table)
    return ok


@app.command("pull")
def pull(
    ctx: typer.Context,
    client: Annotated[str | None, typer.Option(help="Only this client.")] = None,
    now: Annotated[str | None, typer.Option(help="Clock (ISO 8601 with offset).")] = None,
) -> None:
    """One incremental pull of every account (or one client's), forwarding what arrived."""
    config = state(ctx).load()
    clients = [config.client(client)] if client else list(config.clients.values())
    work: list[tuple[ClientConfig, AmazonAccount | EbayAccount]] = []
    for c in clients:
        work += [(c, a) for a in c.amazon]
        work += [(c, e) for e in c.ebay]
    with _puller(config, now) as puller:
        results = _run(puller, work, stream="incremental")
    if not _print(results):
        raise typer.Exit(code=1)


@app.command("backfill")
def backfill(
    ctx: typer.Context,
    client: Annotated[str, typer.Option(help="Client id.")],
    since: Annotated[str, typer.Option(help="Orders created since this day (YYYY-MM-DD).")],
    marketplace: Annotated[
        str, typer.Option(help="amazon (eBay pulls reach back 90 days).")
    ] = "amazon",
    until: Annotated[str | None, typer.Option(help="...and before this day (YYYY-MM-DD).")] = None,
    account: Annotated[str | None, typer.Option(help="Only this seller account.")] = None,
    now: Annotated[str | None, typer.Option(help="Clock (ISO 8601 with offset).")] = None,
) -> None:
    """Fetch a client's older orders page by page; resumable after a kill (cursor per page)."""
    if marketplace != "amazon":
        err_console.print("backfill covers amazon; an eBay pull already reaches back 90 days")
        raise typer.Exit(code=2)
    config = state(ctx).load()
    target = config.client(client)
    accounts = [a for a in target.amazon if account in (None, a.account)]
    if not accounts:
        err_console.print(f"client {client!r} has no amazon account {account or ''}".rstrip())
        raise typer.Exit(code=2)
    with _puller(config, now) as puller:
        results = _run(
            puller,
            [(target, a) for a in accounts],
            stream="backfill",
            since=_day(since, "--since"),
            until=_day(until, "--until") if until else None,
        )
    if not _print(results):
        raise typer.Exit(code=1)


def _day(text: str, hint: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint=hint) from None

"""`ordervault replay`: send dead or failed deliveries again (idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.cli.app import app, console, state
from pipeline.cli.options import parse_now
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import is_inline, make_broker
from pipeline.runtime import Runtime
from storage import outbox, write_session
from storage.models import Delivery, Order

_STATUSES: dict[str, set[str]] = {
    "dead": {"dead"},
    "failed": {"failed"},
    "all": {"dead", "failed"},
}


@app.command("replay")
def replay(
    ctx: typer.Context,
    client: Annotated[str, typer.Option(help="Client id.")],
    status: Annotated[str, typer.Option(help="dead, failed or all.")] = "dead",
    since: Annotated[
        str | None, typer.Option(help="Only deliveries created since this day (YYYY-MM-DD).")
    ] = None,
    order: Annotated[str | None, typer.Option(help="Only this marketplace order id.")] = None,
    destination: Annotated[str | None, typer.Option(help="Only this destination.")] = None,
    now: Annotated[str | None, typer.Option(help="Clock (ISO 8601 with offset).")] = None,
) -> None:
    """Put matching deliveries back in the outbox and forward them again."""
    if status not in _STATUSES:
        raise typer.BadParameter("expected dead, failed or all", param_hint="--status")
    current = parse_now(now)
    config = state(ctx).load()
    config.client(client)  # a clear error for an unknown client
    with Runtime.open(config, clock=lambda: current) as runtime:
        ids = _matching(runtime, client, _STATUSES[status], since, order, destination)
        with write_session(runtime.sessions) as session:
            requeued = outbox.requeue(
                session, now=current, statuses=_STATUSES[status], delivery_ids=ids
            )
        broker = make_broker(config.settings.broker.connect_url)
        jobs = Jobs(broker, runtime)
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("replaying", total=len(requeued))
                sent = jobs.enqueue_deliveries(requeued)
                if is_inline(broker):
                    jobs.drain()
                    bar.update(task, completed=len(requeued))
                else:
                    bar.update(task, completed=len(requeued), description="enqueued")
            with runtime.sessions() as session:
                left = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Delivery)
                    .where(Delivery.id.in_(requeued), Delivery.status != "delivered")
                )
        finally:
            jobs.close()
            broker.close()
    console.print(
        f"{len(requeued)} deliveries requeued in {sent} message(s); "
        + (
            f"{len(requeued) - (left or 0)} delivered, {left} not yet"
            if is_inline(broker)
            else "workers will send them"
        )
    )


def _matching(
    runtime: Runtime,
    client_id: str,
    statuses: set[str],
    since: str | None,
    order_id: str | None,
    destination: str | None,
) -> list[int]:
    query = sa.select(Delivery.id).where(
        Delivery.client_id == client_id, Delivery.status.in_(sorted(statuses))
    )
    if since is not None:
        try:
            day = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise typer.BadParameter("expected YYYY-MM-DD", param_hint="--since") from None
        query = query.where(Delivery.created_at >= day)
    if destination is not None:
        query = query.where(Delivery.destination == destination)
    if order_id is not None:
        query = query.join(Order, Order.id == Delivery.order_id).where(
            Order.marketplace_order_id == order_id
        )
    with runtime.sessions() as session:
        return list(session.scalars(query.order_by(Delivery.id)))

"""The actors, bound to one broker and one runtime per process.

Every option is explicit. Dramatiq's own retries are off (max_retries=0): a failed delivery is
retried from its outbox row, and the sweeper re-enqueues rows whose message was lost, so a
message is only ever a hint that work may be waiting.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import dramatiq
import sqlalchemy as sa

from pipeline.batching import batched
from pipeline.forward import TOP_UP_ROWS, DestinationPool, Forwarder
from pipeline.jobs.account_deletion import register_account_deletion_actor
from pipeline.jobs.broker import is_inline, worker
from pipeline.jobs.pull_actor import PULL_QUEUE, register_pull_actor
from pipeline.runtime import Runtime
from storage import outbox
from storage.db import is_sqlite
from storage.models import Delivery
from storage.outbox_statements import id_in_param

log = logging.getLogger(__name__)

FORWARD_QUEUE = "ordervault-forward"
MAINTENANCE_QUEUE = "ordervault-maintenance"
# Pull first: draining it enqueues the forwards that the later queues then run.
QUEUES = (PULL_QUEUE, FORWARD_QUEUE, MAINTENANCE_QUEUE)

SWEEP_BATCH_ROWS = 5000

_FORWARD_OPTIONS: dict[str, Any] = {
    "max_retries": 0,
    "time_limit": 5 * 60 * 1000,  # ms; a batch to a slow SFTP server fits easily
    "max_age": 24 * 3600 * 1000,  # ms; older messages are dropped, the sweeper re-sends
}
_MAINTENANCE_OPTIONS: dict[str, Any] = {
    "max_retries": 0,
    "time_limit": 30 * 60 * 1000,
    "max_age": 3600 * 1000,
}


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Jobs:
    """The actors of one process: `forward` and `sweep`, and the helpers that enqueue them."""

    broker: dramatiq.Broker
    runtime: Runtime
    worker_id: str = field(default_factory=worker_identity)

    def __post_init__(self) -> None:
        self.destinations = DestinationPool(self.runtime)
        self.forwarder = Forwarder(self.runtime, self.destinations, self.worker_id)
        self.forward = self._actor(self._forward, "forward", FORWARD_QUEUE, 0, _FORWARD_OPTIONS)
        self.sweep = self._actor(self._sweep, "sweep", MAINTENANCE_QUEUE, 10, _MAINTENANCE_OPTIONS)
        self.expire = self._actor(
            self._expire, "expire", MAINTENANCE_QUEUE, 10, _MAINTENANCE_OPTIONS
        )
        self.pull = register_pull_actor(self)
        self.erase_account = register_account_deletion_actor(self)
        self._inline_worker: dramatiq.Worker | None = None

    def _actor(
        self,
        fn: Callable[..., None],
        name: str,
        queue: str,
        priority: int,
        options: dict[str, Any],
    ) -> dramatiq.Actor[..., None]:
        return dramatiq.Actor(
            fn,
            broker=self.broker,
            actor_name=name,
            queue_name=queue,
            priority=priority,
            options=dict(options),
        )

    # --- actors --------------------------------------------------------------------------------

    def _forward(self, delivery_ids: list[int]) -> None:
        report = self.forwarder.forward(delivery_ids)
        log.info(
            "forwarded deliveries %s: %d delivered, %d failed, %d dead, %d superseded, %d skipped",
            delivery_ids,
            report.delivered,
            report.failed,
            report.dead,
            report.superseded,
            report.skipped,
        )
        if report.requeue_ids:
            self.enqueue_deliveries(report.requeue_ids)

    def _sweep(self) -> None:
        with self.runtime.sessions() as session:
            due = outbox.due_for_sweep(
                session,
                now=self.runtime.clock(),
                lost_after_s=self.runtime.config.settings.outbox.lost_after_s,
                limit=SWEEP_BATCH_ROWS,
            )
        if due:
            log.info("sweep re-enqueues %d delivery row(s)", len(due))
            self.enqueue_deliveries(due)

    def _expire(self) -> None:
        # Imported here: retention imports the forwarding stack only through this actor.
        from pipeline.retention import run_expiry

        report = run_expiry(self.runtime)
        log.info(
            "expire: %d bucket(s) destroyed, %d order(s) shredded",
            len(report.buckets),
            report.orders_shredded,
        )

    # --- enqueueing ----------------------------------------------------------------------------

    def enqueue_deliveries(self, delivery_ids: Sequence[int]) -> int:
        """Send `forward` messages for these rows (after their transaction committed).

        Rows are grouped per destination and cut into messages of that destination's batch
        size, or of `TOP_UP_ROWS` when that is larger: a single-order webhook still gets one
        POST per order, but a message carries enough of them to keep its connection busy, not
        one broker round trip and one claim per order. Returns the number of messages sent.
        """
        if not delivery_ids:
            return 0
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        with self.runtime.sessions() as session:
            query = _destinations_query(is_sqlite(session))
            for row in session.execute(query, {"ids": list(delivery_ids)}):
                groups[(row.client_id, row.destination)].append(row.id)
        sent = 0
        for (client_id, name), ids in groups.items():
            per_message = max(self._batch_size(client_id, name), TOP_UP_ROWS)
            for chunk in batched(ids, per_message):
                self.forward.send(list(chunk))
                sent += 1
        return sent

    def _batch_size(self, client_id: str, name: str) -> int:
        client = self.runtime.config.clients.get(client_id)
        config = next((d for d in client.destinations if d.name == name), None) if client else None
        return config.batch_size if config is not None else 1

    # --- inline broker -------------------------------------------------------------------------

    def drain(self, *, threads: int = 4, timeout_s: float = 600.0) -> None:
        """Inline broker only: run every enqueued message to completion in this process."""
        if not is_inline(self.broker):
            return
        if self._inline_worker is None:
            self._inline_worker = worker(self.broker, threads=threads)
            self._inline_worker.start()
        # An actor may enqueue into a queue already joined (the sweep enqueues forwards, a pull
        # enqueues forwards): pass over every queue until one whole pass finds nothing to do.
        while True:
            for queue in QUEUES:
                if queue in self.broker.get_declared_queues():
                    self.broker.join(queue, timeout=int(timeout_s * 1000), fail_fast=True)  # type: ignore[call-arg]
            self._inline_worker.join()
            if not any(q.unfinished_tasks for q in self.broker.queues.values()):
                return

    def close(self) -> None:
        if self._inline_worker is not None:
            self._inline_worker.stop()
            self._inline_worker = None
        self.destinations.close()


@functools.cache
def _destinations_query(sqlite: bool) -> sa.Select[Any]:
    """Each row's client and destination, by id. Built once per dialect, the ids one array on
    PostgreSQL: an IN list of a backfill's thousands of ids cost tens of milliseconds to render
    and parse before the first message could go out."""
    deliveries = cast(sa.Table, Delivery.__table__)
    return (
        sa.select(deliveries.c.id, deliveries.c.client_id, deliveries.c.destination)
        .where(id_in_param(deliveries.c.id, "ids", sqlite))
        .order_by(deliveries.c.id)
    )

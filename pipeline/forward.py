"""Step 5 of the flow: claim outbox rows, open their orders (audited), send, record the outcome.

Independent of the broker: the `forward` actor calls `Forwarder.forward(ids)`, tests call it
directly. At-least-once: a crash after the send and before `mark_delivered` leaves the row to
be claimed again when its lease runs out, and the receiver drops the repeat by its
`Idempotency-Key`. Failures are retried from the row (`next_attempt_at`), never by re-running a
message, so the database alone decides what is still owed.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pipeline import metrics
from pipeline.access import PiiUnavailableError, Purpose, open_order
from pipeline.batching import batched
from pipeline.clients import WebhookDestination
from pipeline.destinations.backoff import backoff_delay_s
from pipeline.destinations.base import Destination, OutgoingOrder, TransportError
from pipeline.destinations.factory import build_destination
from pipeline.forwarding_format import order_document
from pipeline.runtime import Runtime
from storage import audit, get_order, outbox, write_session
from storage.outbox import ClaimedDelivery

log = logging.getLogger(__name__)

DestinationFactory = Callable[[str, str], Destination]


@dataclass
class ForwardReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    superseded: int = 0
    skipped: int = 0

    def add(self, other: ForwardReport) -> None:
        for name in ("delivered", "failed", "dead", "superseded", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class DestinationPool:
    """One open destination per (client, name), reused across sends (keep-alive)."""

    runtime: Runtime
    build: Callable[..., Destination] = build_destination
    _open: dict[tuple[str, str], Destination] = field(default_factory=dict)

    def get(self, client_id: str, name: str) -> Destination:
        key = (client_id, name)
        if key not in self._open:
            client = self.runtime.config.client(client_id)
            config = next((d for d in client.destinations if d.name == name), None)
            if config is None:
                raise LookupError(f"client {client_id!r} has no destination {name!r}")
            extra: dict[str, str] = {}
            if isinstance(config, WebhookDestination) and config.ca_file:
                extra["verify"] = config.ca_file
            # Signatures and TLS run on the wall clock: they are about the transport's freshness,
            # which a receiver checks against its own clock, not about the pipeline's `--now`.
            self._open[key] = self.build(config, **extra)
        return self._open[key]

    def close(self) -> None:
        for destination in self._open.values():
            destination.close()
        self._open.clear()


@dataclass
class Forwarder:
    runtime: Runtime
    destinations: DestinationPool
    worker_id: str
    random_fraction: Callable[[], float] = random.random

    def forward(self, delivery_ids: Sequence[int]) -> ForwardReport:
        """Send these outbox rows (one destination's batch); rows not claimable are skipped."""
        report = ForwardReport()
        now = self.runtime.clock()
        claimed = outbox.claim(
            self.runtime.sessions,
            now=now,
            lease_s=self.runtime.config.settings.outbox.lease_s,
            worker_id=self.worker_id,
            limit=max(1, len(delivery_ids)),
            delivery_ids=list(delivery_ids),
        )
        report.skipped = len(delivery_ids) - len(claimed)
        groups: dict[tuple[str, str], list[ClaimedDelivery]] = defaultdict(list)
        for row in claimed:
            groups[(row.client_id, row.destination)].append(row)
        for (client_id, name), rows in groups.items():
            report.add(self._send_group(client_id, name, rows))
        return report

    def _send_group(self, client_id: str, name: str, rows: list[ClaimedDelivery]) -> ForwardReport:
        report = ForwardReport()
        try:
            destination = self.destinations.get(client_id, name)
        except (LookupError, ValueError) as exc:
            # The destination was removed from config, or its config is unusable: nothing a
            # retry can fix until an operator acts, and replay brings the rows back.
            self._finish(rows, error=f"destination unusable: {exc}", permanent=True, report=report)
            return report
        outgoing: list[tuple[ClaimedDelivery, OutgoingOrder]] = []
        for row in rows:
            item = self._prepare(row, report)
            if item is not None:
                outgoing.append((row, item))
        for batch in batched(outgoing, destination.batch_size):
            self._send_batch(destination, client_id, name, list(batch), report)
        return report

    def _prepare(self, row: ClaimedDelivery, report: ForwardReport) -> OutgoingOrder | None:
        with self.runtime.sessions() as session:
            order_row = get_order(session, row.order_id)
        if order_row is None or order_row.version != row.order_version:
            with write_session(self.runtime.sessions) as session:
                outbox.mark_superseded(session, row.id, worker_id=self.worker_id)
            report.superseded += 1
            return None
        try:
            order = open_order(
                self.runtime,
                row.order_id,
                purpose=Purpose.FORWARD,
                actor=f"worker:{self.worker_id}",
            )
        except PiiUnavailableError:
            self._finish([row], error="PII shredded before delivery", permanent=True, report=report)
            return None
        document = order_document(
            order, order_version=row.order_version, idempotency_key=row.idempotency_key
        )
        return OutgoingOrder(document, row.idempotency_key, (row.id,))

    def _send_batch(
        self,
        destination: Destination,
        client_id: str,
        name: str,
        batch: list[tuple[ClaimedDelivery, OutgoingOrder]],
        report: ForwardReport,
    ) -> None:
        rows = [row for row, _ in batch]
        try:
            destination.send([item for _, item in batch])
        except TransportError as exc:
            log.warning(
                "forward to %s/%s failed for deliveries %s: %s",
                client_id,
                name,
                [r.id for r in rows],
                exc.message,
            )
            self._finish(
                rows,
                error=exc.message,
                permanent=exc.permanent,
                retry_after_s=exc.retry_after_s,
                report=report,
            )
            self._audit(
                client_id, name, rows, outcome="permanent_error" if exc.permanent else "retry"
            )
            return
        now = self.runtime.clock()
        with write_session(self.runtime.sessions) as session:
            for row in rows:
                outbox.mark_delivered(session, row.id, now=now)
        report.delivered += len(rows)
        metrics.record_delivery(client_id, name, "delivered", len(rows))
        self._audit(client_id, name, rows, outcome="delivered")

    def _finish(
        self,
        rows: Sequence[ClaimedDelivery],
        *,
        error: str,
        permanent: bool,
        report: ForwardReport,
        retry_after_s: float | None = None,
    ) -> None:
        now = self.runtime.clock()
        max_attempts = self.runtime.config.settings.outbox.max_attempts
        with write_session(self.runtime.sessions) as session:
            for row in rows:
                dead = permanent or row.attempts >= max_attempts
                retry_at = None
                if not dead:
                    delay_s = backoff_delay_s(
                        row.attempts,
                        random_fraction=self.random_fraction,
                        retry_after_s=retry_after_s,
                    )
                    retry_at = now + timedelta(seconds=delay_s)
                outbox.mark_failed(
                    session, row.id, worker_id=self.worker_id, error=error, retry_at=retry_at
                )
                if dead:
                    report.dead += 1
                else:
                    report.failed += 1
                metrics.record_delivery(
                    row.client_id, row.destination, "dead" if dead else "failed"
                )

    def _audit(
        self, client_id: str, name: str, rows: Sequence[ClaimedDelivery], *, outcome: str
    ) -> None:
        with write_session(self.runtime.sessions) as session:
            audit.append(
                session,
                actor=f"worker:{self.worker_id}",
                action="forward",
                client_id=client_id,
                subject={
                    "delivery_ids": [r.id for r in rows],
                    "order_ids": [r.order_id for r in rows],
                },
                details={"destination": name, "outcome": outcome},
                now=self.runtime.clock(),
            )

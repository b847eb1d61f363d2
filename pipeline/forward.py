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
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from connectors.classify import join
from connectors.order import Order
from pipeline import metrics
from pipeline.access import OpenedParts, claim_and_open
from pipeline.batching import batched
from pipeline.clients import WebhookDestination
from pipeline.destinations.backoff import backoff_delay_s
from pipeline.destinations.base import Destination, OutgoingOrder, TransportError
from pipeline.destinations.factory import build_destination
from pipeline.forwarding_format import document_from_parts, order_document
from pipeline.runtime import Runtime
from storage import audit, outbox, write_session
from storage.outbox import ClaimedDelivery

log = logging.getLogger(__name__)

DestinationFactory = Callable[[str, str], Destination]

# Rows one forward message may claim for its destination: enough that under load a message
# sends for a second or so with a handful of transactions, few enough to finish well within
# a lease on a slow destination. A batching destination's claims take its batch size when
# that is larger, so one claim fills one request.
TOP_UP_ROWS = 50


@dataclass
class ForwardReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    superseded: int = 0
    skipped: int = 0
    # Claimed rows handed back unsent for want of lease time: to enqueue again at once.
    requeue_ids: list[int] = field(default_factory=list)

    def add(self, other: ForwardReport) -> None:
        for name in ("delivered", "failed", "dead", "superseded", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.requeue_ids += other.requeue_ids


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


def _document(clear: dict[str, Any], pii: dict[str, Any], row: ClaimedDelivery) -> dict[str, Any]:
    """The forwarded document of a claimed row's order, from its stored parts."""
    document = document_from_parts(
        clear, pii, order_version=row.order_version, idempotency_key=row.idempotency_key
    )
    if document is None:  # parts the direct build does not cover: validate them into an Order
        document = order_document(
            join(Order, clear, pii),
            order_version=row.order_version,
            idempotency_key=row.idempotency_key,
        )
    return document


@dataclass(frozen=True)
class _Failure:
    row: ClaimedDelivery
    error: str
    permanent: bool
    retry_after_s: float | None = None
    # False when the row never reached the destination (no PII, destination unusable).
    sent: bool = True


@dataclass
class _Outcomes:
    """What became of each claimed row of one destination, written in one transaction."""

    delivered: list[ClaimedDelivery] = field(default_factory=list)
    superseded: list[ClaimedDelivery] = field(default_factory=list)
    failed: list[_Failure] = field(default_factory=list)
    unsent: list[ClaimedDelivery] = field(default_factory=list)
    # Why the unsent rows were not sent: a failing destination (they wait with the failed
    # batch), or the lease running out (they are due at once).
    unsent_after_failure: bool = False


@dataclass
class Forwarder:
    runtime: Runtime
    destinations: DestinationPool
    worker_id: str
    random_fraction: Callable[[], float] = random.random
    # Rows one message may take for a single-order destination (see `outbox.claim`'s
    # `top_up_to`); a batching destination takes its batch size if larger.
    top_up_rows: int = TOP_UP_ROWS

    def forward(self, delivery_ids: Sequence[int]) -> ForwardReport:
        """Send these outbox rows (one destination's batch); rows not claimable are skipped.

        Rows of the same destination that are due as well are claimed with them, up to
        `top_up_rows`, the destination's batch size or the message's own size, whichever is
        largest: under load, one message then opens, sends and records a full batch with two
        transactions (claim and open; record), and the messages of the rows it took find
        nothing left to claim.
        """
        report = ForwardReport()
        now = self.runtime.clock()
        lease_s = self.runtime.config.settings.outbox.lease_s
        claimed: list[ClaimedDelivery] = []
        # (client, destination) -> why it cannot be used: its rows are failed, never opened.
        unusable: dict[tuple[str, str], str] = {}

        def claim(session: Session) -> list[ClaimedDelivery]:
            claimed.extend(
                outbox.claim(
                    session,
                    now=now,
                    lease_s=lease_s,
                    worker_id=self.worker_id,
                    limit=max(1, len(delivery_ids)),
                    delivery_ids=list(delivery_ids),
                    top_up_to=self._rows_per_claim(len(delivery_ids)),
                )
            )
            for key in {(row.client_id, row.destination) for row in claimed}:
                try:
                    self.destinations.get(*key)
                except (LookupError, ValueError) as exc:
                    # Removed from config, or its config is unusable: nothing a retry can
                    # fix until an operator acts, and replay brings the rows back.
                    unusable[key] = f"destination unusable: {exc}"
            return [row for row in claimed if (row.client_id, row.destination) not in unusable]

        # Half the lease: past it, the rest goes back rather than risk a second worker
        # taking rows over while this one is still sending them.
        send_until_s = time.monotonic() + lease_s / 2
        _, opened = claim_and_open(self.runtime, claim, worker_id=self.worker_id)
        mine = set(delivery_ids)
        report.skipped = len(mine) - sum(1 for row in claimed if row.id in mine)
        groups: dict[tuple[str, str], list[ClaimedDelivery]] = defaultdict(list)
        for row in claimed:
            groups[(row.client_id, row.destination)].append(row)
        for (client_id, name), rows in groups.items():
            reason = unusable.get((client_id, name))
            report.add(self._send_group(client_id, name, rows, opened, reason, send_until_s))
        return report

    def _rows_per_claim(self, message_rows: int) -> Callable[[str, str], int]:
        def rows(client_id: str, name: str) -> int:
            try:
                batch_size = self.destinations.get(client_id, name).batch_size
            except (LookupError, ValueError):
                batch_size = 1
            return max(message_rows, self.top_up_rows, batch_size)

        return rows

    def _send_group(
        self,
        client_id: str,
        name: str,
        rows: list[ClaimedDelivery],
        opened: Mapping[int, OpenedParts],
        unusable: str | None,
        send_until_s: float,
    ) -> ForwardReport:
        outcomes = _Outcomes()
        if unusable is not None:
            outcomes.failed += [_Failure(r, unusable, True, sent=False) for r in rows]
            return self._record(client_id, name, outcomes)
        destination = self.destinations.get(client_id, name)
        outgoing = self._prepare(rows, opened, outcomes)
        batches = list(batched(outgoing, destination.batch_size))
        for position, batch in enumerate(batches):
            if time.monotonic() > send_until_s:
                outcomes.unsent += [row for later in batches[position:] for row, _ in later]
                break
            error = self._send_batch(destination, client_id, name, batch)
            if error is None:
                outcomes.delivered += [row for row, _ in batch]
                continue
            outcomes.failed += [
                _Failure(row, error.message, error.permanent, error.retry_after_s)
                for row, _ in batch
            ]
            if not error.permanent:
                # The destination is failing: the rest waits with this batch instead of
                # spending attempts on a receiver that is down.
                outcomes.unsent += [row for later in batches[position + 1 :] for row, _ in later]
                outcomes.unsent_after_failure = True
                break
        return self._record(client_id, name, outcomes)

    def _prepare(
        self,
        rows: list[ClaimedDelivery],
        opened: Mapping[int, OpenedParts],
        outcomes: _Outcomes,
    ) -> list[tuple[ClaimedDelivery, OutgoingOrder]]:
        """Build the documents of the rows whose orders opened at the rows' own version."""
        outgoing: list[tuple[ClaimedDelivery, OutgoingOrder]] = []
        for row in rows:
            found = opened[row.order_id]
            # Covers missing and superseded orders too (their version is None or another):
            # orders were opened at the newest version any claimed row carries, so an order
            # stored since in a newer version than all of them was not opened at all.
            if found.version != row.order_version:
                outcomes.superseded.append(row)
            elif found.clear is None or found.pii is None:
                reason = "PII shredded before delivery"
                outcomes.failed.append(_Failure(row, reason, True, sent=False))
            else:
                document = _document(found.clear, found.pii, row)
                outgoing.append((row, OutgoingOrder(document, row.idempotency_key, (row.id,))))
        return outgoing

    def _send_batch(
        self,
        destination: Destination,
        client_id: str,
        name: str,
        batch: Sequence[tuple[ClaimedDelivery, OutgoingOrder]],
    ) -> TransportError | None:
        try:
            destination.send([item for _, item in batch])
        except TransportError as exc:
            log.warning(
                "forward to %s/%s failed for deliveries %s: %s",
                client_id,
                name,
                [row.id for row, _ in batch],
                exc.message,
            )
            return exc
        return None

    def _record(self, client_id: str, name: str, outcomes: _Outcomes) -> ForwardReport:
        """Mark every row's outcome and audit the sends, in one write transaction."""
        report = ForwardReport()
        now = self.runtime.clock()
        max_attempts = self.runtime.config.settings.outbox.max_attempts
        sent: dict[str, list[ClaimedDelivery]] = defaultdict(list)
        with write_session(self.runtime.sessions) as session:
            outbox.mark_delivered_many(session, [row.id for row in outcomes.delivered], now=now)
            report.delivered = len(outcomes.delivered)
            sent["delivered"] = outcomes.delivered
            for row in outcomes.superseded:
                outbox.mark_superseded(session, row.id, worker_id=self.worker_id)
            report.superseded = len(outcomes.superseded)
            retry_at = now
            for failure in outcomes.failed:
                dead = failure.permanent or failure.row.attempts >= max_attempts
                if not dead:
                    retry_at = now + self._backoff(failure.row.attempts, failure.retry_after_s)
                outbox.mark_failed(
                    session,
                    failure.row.id,
                    worker_id=self.worker_id,
                    error=failure.error,
                    retry_at=None if dead else retry_at,
                )
                outcome = "dead" if dead else "failed"
                setattr(report, outcome, getattr(report, outcome) + 1)
                metrics.record_delivery(client_id, name, outcome)
                if failure.sent:
                    sent["permanent_error" if failure.permanent else "retry"].append(failure.row)
            # Unsent after a failure: due with the failed rows. Unsent for want of lease time:
            # due now, and the actor sends them again at once.
            outbox.release(
                session,
                [row.id for row in outcomes.unsent],
                worker_id=self.worker_id,
                retry_at=retry_at if outcomes.unsent_after_failure else now,
            )
            if not outcomes.unsent_after_failure:
                report.requeue_ids = [row.id for row in outcomes.unsent]
            for outcome, rows in sent.items():
                if not rows:
                    continue
                # Written with the COMMIT, in one round trip: see `audit.append_at_commit`.
                audit.append_at_commit(
                    session,
                    actor=f"worker:{self.worker_id}",
                    action="forward",
                    client_id=client_id,
                    subject={
                        "delivery_ids": [r.id for r in rows],
                        "order_ids": [r.order_id for r in rows],
                    },
                    details={"destination": name, "outcome": outcome},
                    now=now,
                )
        if report.delivered:
            metrics.record_delivery(client_id, name, "delivered", report.delivered)
        # One line per claimed group, not per order (the destination logs each send at DEBUG):
        # at a few thousand orders a second, a line per order cost a tenth of a POST's CPU.
        log.info(
            "forward to %s/%s: %d delivered, %d failed, %d dead, %d superseded, %d handed back",
            client_id,
            name,
            report.delivered,
            report.failed,
            report.dead,
            report.superseded,
            len(outcomes.unsent),
        )
        return report

    def _backoff(self, attempts: int, retry_after_s: float | None) -> timedelta:
        delay_s = backoff_delay_s(
            attempts, random_fraction=self.random_fraction, retry_after_s=retry_after_s
        )
        return timedelta(seconds=delay_s)

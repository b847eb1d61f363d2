"""The one protocol every destination implements, what it is handed, and the one error it raises.

A destination delivers the whole batch it is given or raises `TransportError`. If it raises,
some orders of the batch may already have arrived (at-least-once); receivers drop repeats by
each order's idempotency key, so the outbox simply retries the batch.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

# Keys travel in HTTP headers and file names: lowercase hex keeps both injection-free.
_KEY = re.compile(r"^[0-9a-f]{16,128}$")
_BATCH_KEY_DOMAIN = b"ordervault-batch-v1\n"


class TransportError(Exception):
    """A send failed. `permanent` says retrying cannot help; `retry_after_s` is the server's hint.

    The message names status codes, hosts and exception classes only: never order content,
    never PII, never a response body (a receiver may echo what it was sent).
    """

    def __init__(
        self, message: str, permanent: bool = False, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return (
            f"TransportError({self.message!r}, permanent={self.permanent}, "
            f"retry_after_s={self.retry_after_s})"
        )


@dataclass(frozen=True)
class OutgoingOrder:
    """One order version on its way to one destination.

    `document` is the forwarded JSON (`pipeline.forwarding_format.order_document`), PII included,
    so it is left out of the repr: a logged `OutgoingOrder` shows only ids.
    """

    document: Mapping[str, Any] = field(repr=False)
    idempotency_key: str
    delivery_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.idempotency_key):
            raise ValueError("idempotency_key must be 16-128 lowercase hex characters")
        meta = self.document.get("ordervault")
        if isinstance(meta, Mapping) and meta.get("idempotency_key") not in (
            None,
            self.idempotency_key,
        ):
            raise ValueError("idempotency_key differs from the one inside the document")


def batch_idempotency_key(batch: Sequence[OutgoingOrder]) -> str:
    """The key of a whole batch: hex SHA-256 over a domain tag and the sorted order keys.

    Sorted, so the same set of order versions gets the same key whatever order the outbox
    claimed them in; the domain tag keeps a one-order batch's key distinct from that order's.
    """
    if not batch:
        raise ValueError("empty batch")
    digest = hashlib.sha256(_BATCH_KEY_DOMAIN)
    for key in sorted(order.idempotency_key for order in batch):
        digest.update(key.encode("ascii") + b"\n")
    return digest.hexdigest()


class Destination(abc.ABC):
    """Where a client's orders go. One instance per configured destination, reused across sends.

    `transport` describes the channel for the audit report (DPP 1.5), e.g. "https, TLS>=1.2".
    `batch_size` is the most orders the destination wants per `send`; larger batches are split.
    """

    name: str
    transport: str
    batch_size: int

    @abc.abstractmethod
    def send(self, batch: Sequence[OutgoingOrder]) -> None:
        """Deliver every order of `batch`, or raise `TransportError`."""

    def close(self) -> None:  # noqa: B027 - most destinations hold nothing open
        """Release connections; the instance is not used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def chunks(batch: Sequence[OutgoingOrder], size: int) -> list[Sequence[OutgoingOrder]]:
    """`batch` cut into runs of at most `size` orders, in order."""
    return [batch[start : start + size] for start in range(0, len(batch), size)]

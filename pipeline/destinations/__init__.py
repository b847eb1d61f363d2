"""Where orders are forwarded: webhook, SFTP, directory, each behind `Destination`.

Every failure is a `TransportError` that says whether retrying can help (`permanent`) and,
when the receiver said so, after how long (`retry_after_s`). `backoff_delay_s` turns an
attempt count and that hint into the next delay.
"""

from pipeline.destinations.backoff import backoff_delay_s, parse_retry_after
from pipeline.destinations.base import (
    Destination,
    OutgoingOrder,
    TransportError,
    batch_idempotency_key,
)
from pipeline.destinations.directory import Directory
from pipeline.destinations.factory import build_destination
from pipeline.destinations.guard import AddressPolicy, Resolver, system_resolver
from pipeline.destinations.sftp import Sftp
from pipeline.destinations.webhook import Webhook, signature_header

__all__ = [
    "AddressPolicy",
    "Destination",
    "Directory",
    "OutgoingOrder",
    "Resolver",
    "Sftp",
    "TransportError",
    "Webhook",
    "backoff_delay_s",
    "batch_idempotency_key",
    "build_destination",
    "parse_retry_after",
    "signature_header",
    "system_resolver",
]

"""The one exception root of the storage layer, and the few cases callers tell apart."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error the storage layer raises on purpose."""


class NaiveDatetimeError(StorageError, ValueError):
    """A datetime without tzinfo reached a timestamp column.

    Every timestamp is UTC and timezone-aware; a naive value is ambiguous, and SQLite would store
    it silently, so it is refused rather than guessed.
    """


class MigrationError(StorageError):
    """A schema upgrade was refused or could not run (wrong database, same database twice...)."""


class OrderShreddedError(StorageError):
    """A changed payload arrived for an order whose PII was already shredded.

    Storing it would bring personal data back after its erasure, so the caller must decide
    (usually: keep the order shredded and record why). Carries only the order id.
    """

    def __init__(self, order_id: int) -> None:
        super().__init__(f"order {order_id} is shredded; refusing to store new PII for it")
        self.order_id = order_id

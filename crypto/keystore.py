"""The key store as `crypto` sees it: rows and the operations on them, behind a Protocol.

`storage.keystore.SqlKeyStore` implements it on SQL tables; `crypto` never imports `storage`.
Rows hold only wrapped keys (under a root key) and public identifiers, never a raw key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

from crypto.records import KeyStatus

__all__ = [
    "ACTIVE",
    "DESTROYED",
    "BucketKeyRow",
    "IndexKeyRow",
    "KeyStore",
    "RootRotationRow",
]

ACTIVE: Literal["active"] = "active"
DESTROYED: Literal["destroyed"] = "destroyed"
ROTATION_RUNNING: Literal["running"] = "running"
ROTATION_FINISHED: Literal["finished"] = "finished"


def _wrapped_repr(wrapped_key: bytes | None) -> str:
    return "None" if wrapped_key is None else f"<{len(wrapped_key)} bytes>"


@dataclass(frozen=True, slots=True)
class BucketKeyRow:
    """One row of `bucket_keys`. `wrapped_key` is None once destroyed; `commitment` stays."""

    client_id: str
    day: date
    key_id: str
    root_key_id: str
    wrapped_key: bytes | None
    commitment: str
    state: str
    created_at: datetime
    destroyed_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"BucketKeyRow(client_id={self.client_id!r}, day={self.day!r}, key_id={self.key_id!r},"
            f" root_key_id={self.root_key_id!r}, wrapped_key={_wrapped_repr(self.wrapped_key)},"
            f" state={self.state!r})"
        )


@dataclass(frozen=True, slots=True)
class IndexKeyRow:
    """One row of `index_keys`: a client's blind-index key, wrapped by the root."""

    client_id: str
    key_id: str
    root_key_id: str
    wrapped_key: bytes
    created_at: datetime

    def __repr__(self) -> str:
        return (
            f"IndexKeyRow(client_id={self.client_id!r}, key_id={self.key_id!r},"
            f" root_key_id={self.root_key_id!r}, wrapped_key={_wrapped_repr(self.wrapped_key)})"
        )


@dataclass(frozen=True, slots=True)
class RootRotationRow:
    """One row of `root_rotations`; `state` is 'running' until every key is rewrapped."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    from_root_key_id: str
    to_root_key_id: str
    state: str


class KeyStore(Protocol):
    """Persistence for bucket keys, index keys and root rotations.

    Every method is its own transaction. Implementations must make `add_*` race-safe: when two
    processes add a row for the same (client, day) or client, both get back the one row stored.
    """

    def bucket_for_day(self, client_id: str, day: date) -> BucketKeyRow | None:
        """The bucket row for (client, day), active or destroyed, or None."""
        ...

    def bucket_by_key_id(self, key_id: str) -> BucketKeyRow | None:
        """The bucket row with this public key_id (32 hex chars), or None."""
        ...

    def add_bucket(self, row: BucketKeyRow) -> BucketKeyRow:
        """Insert `row` unless (client, day) exists; return the row stored for (client, day)."""
        ...

    def destroy_bucket(self, client_id: str, day: date, destroyed_at: datetime) -> BucketKeyRow:
        """Delete the wrapped key of (client, day), mark it destroyed, scrub the store's files.

        Idempotent: an already destroyed row is returned as it is (its files scrubbed again).
        Raises KeyStoreError if no row exists, or if scrubbing could not finish (then retry).
        """
        ...

    def buckets_due(self, through_day: date) -> list[tuple[str, date]]:
        """(client, day) of every active bucket whose day is on or before `through_day`."""
        ...

    def key_status(self, client_id: str) -> KeyStatus:
        """Counts of the client's active and destroyed buckets, and its earliest active day."""
        ...

    def index_key(self, client_id: str) -> IndexKeyRow | None: ...

    def add_index_key(self, row: IndexKeyRow) -> IndexKeyRow:
        """Insert `row` unless the client has one; return the row stored for the client."""
        ...

    def destroy_index_key(self, client_id: str) -> bool:
        """Delete the client's index key, leaving no copy in the store's files; True if one was."""
        ...

    def buckets_wrapped_under(self, root_key_id: str, limit: int) -> list[BucketKeyRow]:
        """Up to `limit` active buckets whose wrapped key is under `root_key_id`."""
        ...

    def index_keys_wrapped_under(self, root_key_id: str, limit: int) -> list[IndexKeyRow]: ...

    def replace_bucket_wrapping(
        self, key_id: str, from_root_key_id: str, to_root_key_id: str, wrapped_key: bytes
    ) -> bool:
        """Compare-and-set one active bucket's wrapping; False if it was not under `from`."""
        ...

    def replace_index_key_wrapping(
        self, client_id: str, from_root_key_id: str, to_root_key_id: str, wrapped_key: bytes
    ) -> bool: ...

    def count_wrapped_under(self, root_key_id: str) -> int:
        """How many bucket and index keys still need `root_key_id` to be unwrapped."""
        ...

    def running_rotations(self) -> list[RootRotationRow]: ...

    def start_rotation(
        self, from_root_key_id: str, to_root_key_id: str, started_at: datetime
    ) -> RootRotationRow: ...

    def finish_rotation(self, rotation_id: int, finished_at: datetime) -> None: ...

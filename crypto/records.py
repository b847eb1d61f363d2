"""Value types the pipeline passes in and gets back: which record, what was sealed, what died."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from crypto.errors import InvalidValueError

__all__ = ["BucketTombstone", "KeyStatus", "RecordRef", "Rewrapped", "Sealed"]

# Identifiers are joined with NUL into associated data; forbidding NUL keeps that encoding
# unambiguous ("a\0b" + "c" can never equal "a" + "b\0c"). The limits match the database columns.
_MAX_ID_CHARS = 256
_MAX_CLIENT_ID_CHARS = 64


def _check_id(name: str, value: object, max_chars: int) -> None:
    if not isinstance(value, str) or not value or len(value) > max_chars or "\x00" in value:
        raise InvalidValueError(f"{name} must be a non-empty string of at most {max_chars} chars")


def check_client_id(client_id: object) -> None:
    _check_id("client_id", client_id, _MAX_CLIENT_ID_CHARS)


class _RecordFields(NamedTuple):
    client_id: str
    marketplace: str
    record_id: str
    schema_version: int


class RecordRef(_RecordFields):
    """Names the record whose PII is sealed; bound into the ciphertext as associated data.

    RecordRef(client_id: str, marketplace: str, record_id: str, schema_version: int)

    `record_id` is the marketplace order id (quarantine entries use their own ids, with a
    marketplace such as "quarantine"). `schema_version` is the version of the PII's serialised
    form. Sealed bytes or a wrapped data key moved to a record differing in any field fail to
    open. A validated tuple rather than a dataclass: one is built per sealed or opened record,
    and a frozen dataclass costs three times as much to build.
    """

    __slots__ = ()

    def __new__(
        cls, client_id: str, marketplace: str, record_id: str, schema_version: int
    ) -> RecordRef:
        # One expression for the common, valid case; the slow path names the bad field.
        if not (
            type(client_id) is str
            and type(marketplace) is str
            and type(record_id) is str
            and type(schema_version) is int
            and 0 < len(client_id) <= _MAX_CLIENT_ID_CHARS
            and 0 < len(marketplace) <= _MAX_ID_CHARS
            and 0 < len(record_id) <= _MAX_ID_CHARS
            and 0 <= schema_version < 2**31
            and "\x00" not in client_id
            and "\x00" not in marketplace
            and "\x00" not in record_id
        ):
            check_client_id(client_id)
            _check_id("marketplace", marketplace, _MAX_ID_CHARS)
            _check_id("record_id", record_id, _MAX_ID_CHARS)
            raise InvalidValueError("schema_version must be an int in [0, 2**31)")
        return tuple.__new__(cls, (client_id, marketplace, record_id, schema_version))


class Sealed(NamedTuple):
    """What `PiiVault.seal` returns; the caller stores all four on the record's row.

    `ciphertext` and `wrapped_key` are opaque, versioned byte strings. `bucket_key_id` (32 hex
    chars) and `bucket_day` name the bucket whose key wraps the data key.
    """

    ciphertext: bytes
    wrapped_key: bytes
    bucket_key_id: str
    bucket_day: date

    def __repr__(self) -> str:
        # Ciphertext is not secret, but dumping kilobytes of it into logs helps nobody.
        return (
            f"Sealed(ciphertext=<{len(self.ciphertext)} bytes>, "
            f"wrapped_key=<{len(self.wrapped_key)} bytes>, "
            f"bucket_key_id={self.bucket_key_id!r}, bucket_day={self.bucket_day!r})"
        )


class Rewrapped(NamedTuple):
    """What `PiiVault.rewrap` returns: the record's data key under another bucket.

    The record's ciphertext is unchanged; store `wrapped_key` in place of the old one.
    """

    wrapped_key: bytes
    bucket_key_id: str
    bucket_day: date

    def __repr__(self) -> str:
        return (
            f"Rewrapped(wrapped_key=<{len(self.wrapped_key)} bytes>, "
            f"bucket_key_id={self.bucket_key_id!r}, bucket_day={self.bucket_day!r})"
        )


@dataclass(frozen=True, slots=True)
class BucketTombstone:
    """Evidence that a bucket key is gone.

    `commitment` is HMAC-SHA256(raw key, label + client + day + key_id) in hex: whoever holds a
    copy of the raw key can prove it was this one, while the tombstone reveals nothing about it.
    It is None when the day was closed before any key had been created for it.
    """

    client_id: str
    day: date
    key_id: str
    commitment: str | None
    destroyed_at: datetime


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """One client's bucket keys: how many are active or destroyed, and the next one to go."""

    client_id: str
    active_buckets: int
    destroyed_buckets: int
    next_destruction_day: date | None

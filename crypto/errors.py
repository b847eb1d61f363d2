"""The package's exceptions: one root, and one type for every failure to open.

`DecryptError` deliberately carries a fixed message and no cause: whether the bytes were tampered
with, the key was destroyed, the format is unknown or the record was moved, the caller learns only
that opening failed. Telling those apart would hand an attacker an oracle and could leak key or
record details into logs.
"""

from __future__ import annotations

__all__ = [
    "BucketDestroyedError",
    "CryptoError",
    "DecryptError",
    "InvalidValueError",
    "KeyStoreError",
    "RootKeyError",
    "RotationError",
]


class CryptoError(Exception):
    """Root of every exception raised by `crypto`."""


class DecryptError(CryptoError):
    """Sealed data or a wrapped key could not be opened. Deliberately says nothing about why."""

    def __init__(self) -> None:
        super().__init__("cannot open: the data is not authentic here or its key no longer exists")


class RootKeyError(CryptoError):
    """The root key is unusable: missing or unsafe key file, KMS unreachable or misconfigured.

    `permanent` says whether retrying can help (a world-readable key file will not fix itself; a
    KMS timeout may).
    """

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


class BucketDestroyedError(CryptoError):
    """A key was asked of a bucket that is destroyed, or whose day has begun (so it must be)."""


class KeyStoreError(CryptoError):
    """The key store is inconsistent or could not finish a step (e.g. scrubbing its files)."""


class RotationError(CryptoError):
    """A root-key rotation cannot start or continue as asked."""


class InvalidValueError(CryptoError, ValueError):
    """An argument is malformed (empty record id, unknown index kind, not an email address)."""

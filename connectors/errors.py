"""The one error type every connector raises.

A message names the operation and what went wrong (an HTTP status, a marketplace error code),
never a value from a payload or a credential: errors end up in logs, job results and dead
letters, none of which may hold PII (DPP 2.6).
"""

from __future__ import annotations

__all__ = ["ConnectorError"]


class ConnectorError(Exception):
    """A marketplace call failed. `retryable` says whether trying again later can help."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, retryable={self.retryable})"

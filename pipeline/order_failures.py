"""Which failures to store an order are that order's own, and which mean something is down.

A pull stores each page in one transaction. When that fails, the two cases need opposite
answers:

- An **outage**: the database or key store unreachable or its connection lost, the root key
  (KMS) out of reach, the key store inconsistent, a full disk. Every order would fail alike.
  The pull stops with a clear error, nothing of the page is committed, the cursor stays on the
  last whole page, and the next pull resumes there once the service is back.
- A **poison order**: something in this one order's data that sealing or storage refuses. It
  fails again on every retry, so stopping for it would stop the account's sync for good. It is
  quarantined (sealed, with a reason naming the kind of failure) and the page goes on.

The rule: a failure is the order's own only when its type says "this value is unacceptable":

- `ValueError` (pydantic's `ValidationError`, `UnicodeError`, crypto's `InvalidValueError`,
  storage's `NaiveDatetimeError` are all ValueErrors) and `ArithmeticError` (a date or amount
  that leaves its range in the retention arithmetic or a column's type);
- crypto's `BucketDestroyedError`: the order's expiry day's key is already gone;
- the database refusing one row's values, `IntegrityError` or `DataError`, unless the
  connection was lost with it;
- SQLAlchemy's `StatementError` wrapping any of the above (raised while binding a value).

Everything else is an outage, including every error nobody foresaw (a `TypeError` or
`KeyError` is a bug that would hit every order): stopping costs a delay that an operator sees,
while treating an unrecognised outage as poison would empty a whole backlog into quarantine.
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import ValidationError

from connectors.quarantine import describe_validation_error
from crypto import BucketDestroyedError, CryptoError

__all__ = ["failure_reason", "is_order_failure"]

#: The field a quarantine row names when the failure does not say which one it was.
UNKNOWN_FIELD = "*"


def is_order_failure(exc: BaseException) -> bool:
    """Is `exc` a failure of one order's data (quarantine it), not an outage (stop)?"""
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return False
        return isinstance(exc, (sa.exc.IntegrityError, sa.exc.DataError))
    if isinstance(exc, sa.exc.StatementError):
        # Raised before the statement reached the database: the value's own error is inside.
        return exc.orig is not None and is_order_failure(exc.orig)
    if isinstance(exc, CryptoError):
        # Crypto's InvalidValueError is a ValueError too; RootKeyError and KeyStoreError are not.
        return isinstance(exc, (BucketDestroyedError, ValueError))
    return isinstance(exc, (ValueError, ArithmeticError))


def failure_reason(exc: BaseException) -> tuple[str, str]:
    """(field, reason) for the quarantine row of an order that failed with `exc`.

    Built from the exception's type (and pydantic's field path and error type), never from
    its message: a message may quote the value, and the value may be a buyer's address.
    """
    if (
        isinstance(exc, sa.exc.StatementError)
        and not isinstance(exc, sa.exc.DBAPIError)
        and exc.orig is not None
    ):
        return failure_reason(exc.orig)  # raised while binding: the value's own error
    kind = type(exc).__name__
    if isinstance(exc, ValidationError):
        field, problem = describe_validation_error(exc)
        return field, f"not stored: {problem} ({kind})"
    if isinstance(exc, BucketDestroyedError):
        problem = "the key of its expiry day is already destroyed"
    elif isinstance(exc, sa.exc.IntegrityError):
        problem = "the database refused it (a constraint)"
    elif isinstance(exc, sa.exc.DataError):
        problem = "the database refused one of its values"
    elif isinstance(exc, UnicodeError):
        problem = "text that cannot be encoded"
    elif isinstance(exc, ArithmeticError):
        problem = "a date or number out of range"
    else:
        problem = "an invalid value"
    return UNKNOWN_FIELD, f"not stored: {problem} ({kind})"

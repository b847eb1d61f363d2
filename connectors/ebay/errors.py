"""How a failed Trading API call is told apart and classified: retry now, later, or never.

Messages carry the call, the HTTP status and eBay's error code with our own description of it,
never eBay's ShortMessage/LongMessage or ErrorParameters, which can echo request values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.errors import ConnectorError

__all__ = [
    "AccountNeedsAttention",
    "ApiError",
    "CallBudgetExhausted",
    "EbayError",
    "classify_api_errors",
    "http_error",
]

# The token was refused: no retry helps until someone renews it.
TOKEN_CODES = {
    "930": "no token was accepted",
    "931": "the token is invalid",
    "932": "the token has hard-expired",
    "17470": "the token has expired",
    "21916984": "the OAuth (IAF) token is invalid",
    "21917053": "the token was refused",
    "21917055": "the token was refused",
}
ACCOUNT_CODES = {"841": "the seller's eBay account is suspended"}
# Transient on eBay's side: worth retrying at once, with backoff.
RETRY_NOW_CODES = {"10007": "internal error at eBay"}
# eBay's own call limit for the application: retrying within the hour only burns budget.
RETRY_LATER_CODES = {"518": "eBay's call usage limit was reached"}

_RETRYABLE_STATUSES = frozenset({200, 408, 429, 500, 502, 503, 504})
_CODE = re.compile(r"^[0-9]{1,12}$")


class EbayError(ConnectorError):
    """A Trading API call failed; the attributes drive retries and the account's state."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_now: bool | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, retryable)
        # Whether backing off for seconds and trying again in this pull can help.
        self.retry_now = retryable if retry_now is None else retry_now
        self.code = code
        self.status = status


class AccountNeedsAttention(EbayError):
    """The token (or the seller's account) was refused: pulls of this account stop until fixed."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, retryable=False, code=code)


class CallBudgetExhausted(EbayError):
    """The account's daily call budget is spent; tomorrow's budget will serve the next pull."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, retry_now=False)


@dataclass(frozen=True)
class ApiError:
    """One <Errors> node of a response, reduced to what is safe to log."""

    code: str | None
    severity: str | None  # "Error" or "Warning"
    classification: str | None  # "RequestError" or "SystemError"

    @classmethod
    def safe(cls, code: str | None, severity: str | None, classification: str | None) -> ApiError:
        return cls(
            code=code if code and _CODE.match(code) else None,
            severity=severity if severity in ("Error", "Warning") else None,
            classification=(
                classification if classification in ("RequestError", "SystemError") else None
            ),
        )


def classify_api_errors(call: str, account: str, errors: list[ApiError]) -> EbayError:
    """The error for a response whose Ack said Failure (or PartialFailure)."""
    failures = [e for e in errors if e.severity != "Warning"] or errors
    for error in failures:
        if error.code in TOKEN_CODES or error.code in ACCOUNT_CODES:
            what = TOKEN_CODES.get(error.code) or ACCOUNT_CODES[error.code]
            return AccountNeedsAttention(
                f"{call}: eBay refused account {account!r} (error {error.code}: {what}); "
                "the account needs attention: renew its token or settle the account on eBay. "
                "Its pulls stop until then.",
                code=error.code,
            )
    for error in failures:
        if error.code in RETRY_LATER_CODES:
            return EbayError(
                f"{call}: eBay error {error.code} ({RETRY_LATER_CODES[error.code]})",
                retryable=True,
                retry_now=False,
                code=error.code,
            )
    first = failures[0] if failures else ApiError(None, None, None)
    if first.code in RETRY_NOW_CODES:
        return EbayError(
            f"{call}: eBay error {first.code} ({RETRY_NOW_CODES[first.code]})",
            retryable=True,
            code=first.code,
        )
    system = first.classification == "SystemError"
    kind = "system error" if system else "request refused"
    code = f" {first.code}" if first.code else " without a code"
    return EbayError(f"{call}: eBay error{code} ({kind})", retryable=system, code=first.code)


def http_error(call: str, status: int, what: str) -> EbayError:
    """A response that is not a Trading API answer (an HTML error page, an empty body...)."""
    return EbayError(
        f"{call}: HTTP {status} with {what}",
        retryable=status in _RETRYABLE_STATUSES or status >= 500,
        status=status,
    )

"""Telling a failed Selling Partner API response apart from a good one.

python-amazon-sp-api raises only when an error response carries a JSON `errors` list; an HTML
503 from a load balancer, an empty 429, or a 200 whose JSON was cut off all come back as an
empty, "successful" response. `check_response` looks at the status and the bytes first.
Messages carry the operation, the status and Amazon's error code, never Amazon's message or
details, which can echo request values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from connectors.errors import ConnectorError
from connectors.ratelimit.plans import parse_rate_limit_header

__all__ = ["SpApiError", "check_response"]

_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class SpApiError(ConnectorError):
    """A Selling Partner API or LWA call failed; attributes say how, for retry decisions."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        code: str | None = None,
        throttled: bool = False,
        auth_failed: bool = False,
        rate_limit_per_s: float | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, retryable)
        self.status = status
        self.code = code
        self.throttled = throttled
        self.auth_failed = auth_failed
        self.rate_limit_per_s = rate_limit_per_s
        self.retry_after_s = retry_after_s


def check_response(
    operation: str, status: int, body: bytes, headers: Mapping[str, str]
) -> dict[str, Any]:
    """The JSON object of a good response; raise `SpApiError` for anything else."""
    rate = parse_rate_limit_header(headers.get("x-amzn-RateLimit-Limit"))
    document = _json_object(body)
    if 200 <= status < 300:
        if document is None:
            raise SpApiError(
                f"{operation}: HTTP {status} with a truncated or non-JSON body",
                retryable=True,
                status=status,
                rate_limit_per_s=rate,
            )
        if document.get("errors"):
            # A success status with an error list: the library would raise its own exception
            # type, carrying Amazon's message (which can echo request values).
            code = _error_code(document)
            raise SpApiError(
                f"{operation}: HTTP {status} with an error list" + (f" ({code})" if code else ""),
                retryable=False,
                status=status,
                code=code,
                rate_limit_per_s=rate,
            )
        return document
    code = _error_code(document)
    detail = f" ({code})" if code else ("" if document is not None else ", no JSON error body")
    raise SpApiError(
        f"{operation}: HTTP {status}{detail}",
        retryable=status in _RETRYABLE_STATUSES,
        status=status,
        code=code,
        throttled=status == 429,
        auth_failed=status in (401, 403),
        rate_limit_per_s=rate,
        retry_after_s=_retry_after_s(headers.get("retry-after")),
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        return None
    return document if isinstance(document, dict) else None


def _error_code(document: dict[str, Any] | None) -> str | None:
    if document is None:
        return None
    errors = document.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    code = first.get("code") if isinstance(first, dict) else document.get("error")
    return code if isinstance(code, str) and _CODE.match(code) else None


def _retry_after_s(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86_400 else None

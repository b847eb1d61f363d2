"""Faults the fake SP-API can inject, each the way real infrastructure produces it."""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass

__all__ = ["Fault", "FaultKind", "Faults", "cut"]


class FaultKind(enum.StrEnum):
    THROTTLE = "throttle"  # 429 with Amazon's JSON error body
    THROTTLE_EMPTY = "throttle_empty"  # 429 with an empty body (an edge that sheds load)
    SERVER_ERROR = "server_error"  # 500 with Amazon's JSON error body
    HTML_503 = "html_503"  # 503 with an HTML page, as a load balancer sends it
    TRUNCATED = "truncated"  # 200 whose JSON body stops halfway (dropped connection)
    # ... or, with `cut_after`, right after the first occurrence of that text (a leak test
    # cuts inside a planted buyer, so the broken body the connector sees holds a canary)
    SLOW = "slow"  # the real answer, after `delay_s` real seconds (client timeouts)


def cut(body: bytes, after: str | None) -> bytes:
    """The body as a dropped connection leaves it: halfway, or just after `after` if it is in."""
    at = body.find(after.encode()) if after else -1
    return body[: at + len(after)] if after and at >= 0 else body[: len(body) // 2]


@dataclass
class Fault:
    kind: FaultKind
    operation: str | None  # None: any Selling Partner API operation (never LWA)
    remaining: int
    delay_s: float = 0.0
    cut_after: str | None = None  # TRUNCATED only


class Faults:
    """Queued faults; each matching request consumes one, in the order they were injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def inject(
        self,
        kind: FaultKind | str,
        *,
        operation: str | None = None,
        times: int = 1,
        delay_s: float = 0.0,
        cut_after: str | None = None,
    ) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queue.append(Fault(FaultKind(kind), operation, times, delay_s, cut_after))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._queue)

    def take(self, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.operation in (None, operation):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return Fault(fault.kind, operation, 1, fault.delay_s, fault.cut_after)
        return None

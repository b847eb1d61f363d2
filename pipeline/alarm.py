"""Alarm on unusual access volume (DPP 2.6): too many decrypts by one actor in a minute.

Counted per process over a sliding 60-second window; the first decrypt over the limit raises the
alarm once per window (an audit event, a warning log line), so a runaway loop is visible
without flooding the log. Actors are ids such as `worker:host:pid` or `operator:ana`, never PII.

What counts: every decrypt through `pipeline.access` (`open_order`, `open_orders`, whatever the
purpose) except a forwarding worker's decrypts of the orders of outbox rows it has just leased
(`access.claim_and_open`). Those are the pipeline delivering what it stored, one per leased row
and attempt: their rate is the delivery rate, so a limit on them fires whenever the pipeline is
busy (a false alarm an operator learns to ignore, hiding the real one) and catches nothing the
outbox does not already bound (`max_attempts`) and show (delivery and decrypt metrics by
purpose). They stay audited exactly like every other decrypt. The alarm is for the access it
is meant to catch: a person or a tool reading PII in bulk (exports, support, incident, demo).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)


class DecryptRateAlarm:
    def __init__(self, limit_per_minute: int) -> None:
        self.limit_per_minute = limit_per_minute
        self._seen: dict[str, deque[datetime]] = defaultdict(deque)
        self._alarmed_at: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def record(self, actor: str, now: datetime, count: int = 1) -> int | None:
        """Count `count` decrypts; the count in the window when the alarm fires, else None."""
        with self._lock:
            seen = self._seen[actor]
            seen.extend([now] * count)
            while seen and seen[0] <= now - WINDOW:
                seen.popleft()
            if len(seen) <= self.limit_per_minute:
                return None
            last = self._alarmed_at.get(actor)
            if last is not None and now - last < WINDOW:
                return None
            self._alarmed_at[actor] = now
            count = len(seen)
        log.warning(
            "decrypt alarm: actor %s opened %d orders within a minute (limit %d)",
            actor,
            count,
            self.limit_per_minute,
        )
        return count

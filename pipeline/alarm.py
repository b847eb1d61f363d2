"""Alarm on unusual access volume (DPP 2.6): too many decrypts by one actor in a minute.

Counted per process over a sliding 60-second window; the first decrypt over the limit raises the
alarm once per window (an audit event, a warning log line), so a runaway loop is visible
without flooding the log. Actors are ids such as `worker:host:pid` or `operator:ana`, never PII.
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

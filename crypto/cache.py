"""Bounded in-memory caches of unwrapped keys, so one root-key call serves many records.

Entries live only in this process's memory: nothing here is ever written, logged or repr'd with
key material. A bucket entry is usable until the earlier of (a) the start of its day (UTC), when
the bucket must be dead everywhere even before the expiry job destroys it, and (b) `ttl_s` after
it was loaded, which bounds how long a bucket destroyed by another process stays usable here.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Generic, TypeAlias, TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from crypto._aead import SecretKey

__all__ = ["BucketAead", "BucketKeyCache", "CacheStats", "LruCache", "UnwrappedBucketKey"]

# The bucket key as the backend in use holds it (crypto/_format.py): a compiled `SecretKey`, or
# cryptography's AESGCM on the pure-Python path.
BucketAead: TypeAlias = "AESGCM | SecretKey"

K = TypeVar("K")
V = TypeVar("V")


class UnwrappedBucketKey:
    """A bucket key ready to wrap and unwrap data keys. Holds the key only inside `aead`."""

    __slots__ = (
        "ad",
        "aead",
        "client_id",
        "day",
        "key_id",
        "key_id_bytes",
        "referenced",
        "usable_until_s",
    )

    def __init__(
        self,
        *,
        client_id: str,
        day: date,
        key_id: str,
        aead: BucketAead,
        ad: bytes,
        usable_until_s: float,
    ) -> None:
        self.client_id = client_id
        self.day = day
        self.key_id = key_id
        self.key_id_bytes = bytes.fromhex(key_id)
        self.aead = aead
        self.ad = ad
        self.usable_until_s = usable_until_s
        # Set by a cache hit, cleared by the cache's eviction clock.
        self.referenced = False

    def __repr__(self) -> str:
        return (
            f"UnwrappedBucketKey(client_id={self.client_id!r}, day={self.day!r},"
            f" key_id={self.key_id!r}, key=<redacted>)"
        )


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    max_entries: int

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class BucketKeyCache:
    """Unwrapped bucket keys, found by (client, day) to seal and by key_id to open.

    Thread-safe: Dramatiq runs actors on several threads of one process. Every seal and open
    looks a bucket up here, so a hit takes no lock: a dict lookup (atomic under the GIL), a flag
    store and an `itertools.count` step (atomic in CPython). Inserts, expiry and eviction take
    the lock. Eviction is CLOCK (second chance) rather than strict LRU, because LRU reorders on
    every hit: a hit marks its entry referenced, and eviction passes over a referenced entry
    once, clearing the mark, so a bucket in use is not the one evicted.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        # The clock's order (oldest first) lives in `_by_key_id`, changed under the lock only;
        # `_by_day` is a second index on the same entries.
        self._by_key_id: OrderedDict[bytes, UnwrappedBucketKey] = OrderedDict()
        self._by_day: dict[tuple[str, date], UnwrappedBucketKey] = {}
        self._lock = threading.Lock()
        # next() on the count is the hit counter; stats() reads it with next() too, and
        # subtracts the values its own reads consumed.
        self._hit_count = itertools.count()
        self._hit_count_reads = 0
        self._misses = 0

    def by_day(self, client_id: str, day: date, now_s: float) -> UnwrappedBucketKey | None:
        entry = self._by_day.get((client_id, day))
        if entry is not None and now_s < entry.usable_until_s:
            entry.referenced = True
            next(self._hit_count)
            return entry
        self._miss(entry)
        return None

    def by_key_id(self, key_id: bytes, now_s: float) -> UnwrappedBucketKey | None:
        entry = self._by_key_id.get(key_id)
        if entry is not None and now_s < entry.usable_until_s:
            entry.referenced = True
            next(self._hit_count)
            return entry
        self._miss(entry)
        return None

    def _miss(self, expired: UnwrappedBucketKey | None) -> None:
        with self._lock:
            # Another thread may have removed or replaced it since the lock-free lookup.
            if expired is not None and self._by_key_id.get(expired.key_id_bytes) is expired:
                self._remove(expired)
            self._misses += 1

    def put(self, entry: UnwrappedBucketKey) -> None:
        with self._lock:
            stale = self._by_day.get((entry.client_id, entry.day))
            if stale is not None:
                self._remove(stale)
            # Evict before inserting, so the clock can never pick the entry being put.
            while len(self._by_key_id) >= self.max_entries:
                self._remove(self._clock_victim())
            self._by_key_id[entry.key_id_bytes] = entry
            self._by_day[(entry.client_id, entry.day)] = entry

    def _clock_victim(self) -> UnwrappedBucketKey:
        """The oldest entry not referenced since the clock last passed it. Under the lock."""
        order = self._by_key_id
        # Lock-free hits may mark entries again while this runs: one full turn bounds it.
        for _ in range(len(order)):
            key_id = next(iter(order))
            entry = order[key_id]
            if not entry.referenced:
                return entry
            entry.referenced = False
            order.move_to_end(key_id)
        return order[next(iter(order))]

    def evict(self, client_id: str, day: date) -> None:
        with self._lock:
            entry = self._by_day.get((client_id, day))
            if entry is not None:
                self._remove(entry)

    def _remove(self, entry: UnwrappedBucketKey) -> None:
        del self._by_key_id[entry.key_id_bytes]
        del self._by_day[(entry.client_id, entry.day)]

    def stats(self) -> CacheStats:
        with self._lock:
            hits = next(self._hit_count) - self._hit_count_reads
            self._hit_count_reads += 1
            return CacheStats(hits, self._misses, len(self._by_key_id), self.max_entries)


class LruCache(Generic[K, V]):
    """A plain thread-safe LRU (used for per-client index keys)."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        # A hit takes no lock (every blind-index digest looks its key up here): the lookup and
        # the move are each one atomic dict operation under the GIL, and a key another thread
        # removed in between is simply not moved; changes still take the lock.
        value = self._entries.get(key)
        if value is not None:
            try:  # noqa: SIM105  # contextlib.suppress costs as much as the lock it saves
                self._entries.move_to_end(key)
            except KeyError:
                pass
        return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

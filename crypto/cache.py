"""Bounded in-memory caches of unwrapped keys, so one root-key call serves many records.

Entries live only in this process's memory: nothing here is ever written, logged or repr'd with
key material. A bucket entry is usable until the earlier of (a) the start of its day (UTC), when
the bucket must be dead everywhere even before the expiry job destroys it, and (b) `ttl_s` after
it was loaded, which bounds how long a bucket destroyed by another process stays usable here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["BucketKeyCache", "CacheStats", "LruCache", "UnwrappedBucketKey"]

K = TypeVar("K")
V = TypeVar("V")


class UnwrappedBucketKey:
    """A bucket key ready to wrap and unwrap data keys. Holds the key only inside `aead`."""

    __slots__ = ("ad", "aead", "client_id", "day", "key_id", "key_id_bytes", "usable_until_s")

    def __init__(
        self,
        *,
        client_id: str,
        day: date,
        key_id: str,
        aead: AESGCM,
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
    """LRU of unwrapped bucket keys, found by (client, day) to seal and by key_id to open.

    Thread-safe: Dramatiq runs actors on several threads of one process. This is the hot path
    of every seal and open, hence one dict lookup per hit under one short lock.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        # Recency order lives in `_by_key_id`; `_by_day` is a second index on the same entries.
        self._by_key_id: OrderedDict[bytes, UnwrappedBucketKey] = OrderedDict()
        self._by_day: dict[tuple[str, date], UnwrappedBucketKey] = {}
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def by_day(self, client_id: str, day: date, now_s: float) -> UnwrappedBucketKey | None:
        with self._lock:
            entry = self._by_day.get((client_id, day))
            if entry is not None and now_s < entry.usable_until_s:
                self._by_key_id.move_to_end(entry.key_id_bytes)
                self._hits += 1
                return entry
            self._miss(entry)
            return None

    def by_key_id(self, key_id: bytes, now_s: float) -> UnwrappedBucketKey | None:
        with self._lock:
            entry = self._by_key_id.get(key_id)
            if entry is not None and now_s < entry.usable_until_s:
                self._by_key_id.move_to_end(key_id)
                self._hits += 1
                return entry
            self._miss(entry)
            return None

    def _miss(self, expired: UnwrappedBucketKey | None) -> None:
        if expired is not None:
            self._remove(expired)
        self._misses += 1

    def put(self, entry: UnwrappedBucketKey) -> None:
        with self._lock:
            stale = self._by_day.get((entry.client_id, entry.day))
            if stale is not None:
                self._remove(stale)
            self._by_key_id[entry.key_id_bytes] = entry
            self._by_day[(entry.client_id, entry.day)] = entry
            while len(self._by_key_id) > self.max_entries:
                _, oldest = self._by_key_id.popitem(last=False)
                del self._by_day[(oldest.client_id, oldest.day)]

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
            return CacheStats(self._hits, self._misses, len(self._by_key_id), self.max_entries)


class LruCache(Generic[K, V]):
    """A plain thread-safe LRU (used for per-client index keys)."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
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

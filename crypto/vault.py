"""`PiiVault`: the one object the pipeline uses to seal, open, move and shred buyer PII.

Named PiiVault rather than Vault so it is never mistaken for a HashiCorp Vault root provider.
It wires a root keyring, a key store and the in-memory caches; see `crypto/__init__.py` for the
hierarchy and `crypto/_format.py` for the bytes.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from types import ModuleType

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import _format
from crypto._randomness import RandomPool
from crypto.blind_index import CONTENT_KIND, IndexKey, normalize
from crypto.cache import BucketAead, BucketKeyCache, CacheStats, LruCache, UnwrappedBucketKey
from crypto.errors import BucketDestroyedError, DecryptError, InvalidValueError, KeyStoreError
from crypto.keystore import ACTIVE, DESTROYED, BucketKeyRow, IndexKeyRow, KeyStore
from crypto.records import (
    BucketTombstone,
    KeyStatus,
    RecordRef,
    Rewrapped,
    Sealed,
    check_client_id,
)
from crypto.roots.base import RootKeyProvider, RootKeyring

__all__ = ["PiiVault"]


_new_tuple = tuple.__new__


def _day_start_s(day: date) -> float:
    """Unix time at which `day` begins (UTC): from then on its bucket key must be dead."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


class PiiVault:
    """Seal and open records' PII under per-record data keys, wrapped by per-day bucket keys.

    PiiVault(root, keystore, *, cache_size=4096, cache_ttl_s=300.0, clock_s=time.time,
             random_bytes=os.urandom)

    `root` is a `RootKeyProvider` or a `RootKeyring` (current root plus retired ones during a
    rotation). `clock_s` returns Unix seconds and `random_bytes(n)` n random bytes; tests inject
    both. Seals read `random_bytes` 64 seals' worth at a time, into per-thread pools that a
    forked child drops (`crypto/_randomness.py`): an OS call per seal costs as much as an AES
    call. A bucket key is never used on or after the start (UTC) of its day, in any process,
    whether or not the expiry job has destroyed it yet; `cache_ttl_s` bounds how long a bucket
    destroyed early by another process (client off-boarding) stays usable from this cache.
    Seals and opens run on the compiled backend when it is loaded (`crypto.backend()`), on the
    pure-Python one otherwise; both write the same bytes. Thread-safe.
    """

    def __init__(
        self,
        root: RootKeyProvider | RootKeyring,
        keystore: KeyStore,
        *,
        cache_size: int = 4096,
        cache_ttl_s: float = 300.0,
        clock_s: Callable[[], float] = time.time,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._keyring = root if isinstance(root, RootKeyring) else RootKeyring(root)
        self._keystore = keystore
        self._buckets = BucketKeyCache(cache_size)
        self._index_keys: LruCache[str, IndexKey] = LruCache(cache_size)
        self._cache_ttl_s = cache_ttl_s
        self._clock_s = clock_s
        self._random_bytes = random_bytes
        self._seal_randomness = RandomPool(_format.SEAL_RANDOM_PARTS, source=random_bytes).draw
        # The backend loaded when this vault is made (crypto/_format.py): its per-record
        # functions, which share signatures, and the key type they take.
        native = _format.native
        impl: ModuleType = _format if native is None else native
        self._seal_record: Callable[..., tuple[bytes, bytes]] = impl.seal_record
        self._open_record: Callable[..., bytes] = impl.open_record
        self._unwrap_data_key: Callable[..., object] = impl.unwrap_data_key
        self._wrap_data_key: Callable[..., bytes] = impl.wrap_data_key
        self._bucket_aead: Callable[[bytes], BucketAead] = (
            AESGCM if native is None else native.SecretKey
        )

    def __repr__(self) -> str:
        return f"PiiVault(root={self._keyring!r}, cache={self.cache_stats()!r})"

    # --- records -------------------------------------------------------------------------------

    def seal(self, record: RecordRef, pii: bytes, bucket_day: date) -> Sealed:
        """Encrypt `pii` for `record` under a fresh data key wrapped by the bucket of `bucket_day`.

        The bucket key is created on first use. Raises BucketDestroyedError when the bucket is
        destroyed or its day has begun: PII must not be stored past its expiry.
        """
        if type(record) is not RecordRef:
            raise InvalidValueError("record must be a RecordRef")
        bucket = self._buckets.by_day(record.client_id, bucket_day, self._clock_s())
        if bucket is None:
            bucket = self._load_bucket_to_seal(record.client_id, bucket_day)
        ciphertext, wrapped_key = self._seal_record(
            bucket.aead, bucket.ad, self._seal_randomness(), pii, record
        )
        # tuple.__new__ skips the NamedTuple's Python-level __new__: this is the hot path.
        return _new_tuple(Sealed, (ciphertext, wrapped_key, bucket.key_id, bucket_day))

    def open(self, record: RecordRef, ciphertext: bytes, wrapped_key: bytes) -> bytes:
        """The PII sealed for `record`. DecryptError, saying nothing more, on any failure:
        tampered or truncated bytes, unknown format, another record's or client's data or key,
        destroyed or expired bucket."""
        parts = _format.split_wrapped_key(wrapped_key)
        bucket = self._buckets.by_key_id(parts[0], self._clock_s())
        if bucket is None:
            bucket = self._load_bucket_to_open(parts[0])
        if bucket.client_id != record.client_id:
            raise DecryptError
        return self._open_record(bucket.aead, bucket.ad, parts, ciphertext, record)

    def rewrap(self, record: RecordRef, wrapped_key: bytes, to_day: date) -> Rewrapped:
        """Move `record`'s data key into the bucket of `to_day`; the ciphertext is untouched.

        DecryptError if `wrapped_key` does not open for `record`; BucketDestroyedError if the
        target bucket is destroyed or its day has begun.
        """
        if type(record) is not RecordRef:
            raise InvalidValueError("record must be a RecordRef")
        parts = _format.split_wrapped_key(wrapped_key)
        source = self._buckets.by_key_id(parts[0], self._clock_s())
        if source is None:
            source = self._load_bucket_to_open(parts[0])
        if source.client_id != record.client_id:
            raise DecryptError
        data_key = self._unwrap_data_key(source.aead, source.ad, parts, record)
        target = self._buckets.by_day(record.client_id, to_day, self._clock_s())
        if target is None:
            target = self._load_bucket_to_seal(record.client_id, to_day)
        nonce = self._random_bytes(_format.NONCE_BYTES)
        rewrapped = self._wrap_data_key(target.aead, target.ad, nonce, data_key, record)
        return Rewrapped(rewrapped, target.key_id, to_day)

    # --- buckets -------------------------------------------------------------------------------

    def destroy_bucket(self, client_id: str, day: date, now: datetime) -> BucketTombstone:
        """Destroy the bucket key of (client, day); every record wrapped under it becomes
        unreadable, copies and backups of the data included. Idempotent.

        A day that never had a key is closed with a keyless tombstone, so none can be created
        for it later. Raises KeyStoreError if the key store could not scrub its files (the
        key is destroyed logically; call again to finish).
        """
        check_client_id(client_id)
        self._buckets.evict(client_id, day)
        if self._keystore.bucket_for_day(client_id, day) is None:
            self._keystore.add_bucket(
                BucketKeyRow(
                    client_id=client_id,
                    day=day,
                    key_id=self._random_bytes(_format.KEY_ID_BYTES).hex(),
                    root_key_id=self._keyring.current.root_key_id,
                    wrapped_key=None,
                    commitment="",
                    state=DESTROYED,
                    created_at=now,
                    destroyed_at=now,
                )
            )
        row = self._keystore.destroy_bucket(client_id, day, now)
        # Again: another thread of this process may have loaded it between the two calls.
        self._buckets.evict(client_id, day)
        return BucketTombstone(
            client_id=row.client_id,
            day=row.day,
            key_id=row.key_id,
            commitment=row.commitment or None,
            destroyed_at=row.destroyed_at or now,
        )

    def buckets_due(self, through_day: date) -> list[tuple[str, date]]:
        """(client, day) of every active bucket whose day is on or before `through_day`."""
        return self._keystore.buckets_due(through_day)

    def key_status(self, client_id: str) -> KeyStatus:
        """Counts of the client's active and destroyed bucket keys and the next day to shred."""
        check_client_id(client_id)
        return self._keystore.key_status(client_id)

    def cache_stats(self) -> CacheStats:
        """Bucket-key cache hits, misses and size since this vault was made."""
        return self._buckets.stats()

    # --- blind index ---------------------------------------------------------------------------

    def blind_index(self, client_id: str, kind: str, value: str) -> str:
        """HMAC-SHA256 of the normalised `value` under the client's index key, as 64 hex chars.

        `kind` is a lower-case label ("email", "buyer_id", "phone", ...); "email" and "phone"
        values are normalised as such (see `normalize_email`), others are NFKC and trimmed.
        """
        normalized = normalize(kind, value)
        return self._index_key(client_id).digest(kind, normalized.encode())

    def destroy_index_key(self, client_id: str) -> bool:
        """Destroy the client's blind-index key (off-boarding); True if it had one.

        Its digests can no longer be recomputed, so leftover digests match nothing. A later use
        of the client would create a new, unrelated key.
        """
        check_client_id(client_id)
        self._index_keys.pop(client_id)
        return self._keystore.destroy_index_key(client_id)

    def content_digest(self, client_id: str, data: bytes) -> str:
        """Keyed digest of `data` (kind "content"), 64 hex chars: detects unchanged payloads without
        letting anyone without the key test guesses against stored digests."""
        return self._index_key(client_id).digest(CONTENT_KIND, data)

    # --- internals -----------------------------------------------------------------------------

    def _load_bucket_to_seal(self, client_id: str, day: date) -> UnwrappedBucketKey:
        """The cache missed: find the bucket in the key store, or create it."""
        now_s = self._clock_s()
        if now_s >= _day_start_s(day):
            raise BucketDestroyedError(
                f"bucket {day.isoformat()} of client {client_id!r} has begun; its key is dead"
            )
        row = self._keystore.bucket_for_day(client_id, day)
        if row is None:
            return self._create_bucket(client_id, day, now_s)
        if row.state != ACTIVE or row.wrapped_key is None:
            raise BucketDestroyedError(
                f"bucket {day.isoformat()} of client {client_id!r} is destroyed"
            )
        try:
            return self._load_bucket(row, row.wrapped_key, now_s)
        except DecryptError:
            raise KeyStoreError(
                f"bucket key {row.key_id} does not open under root {row.root_key_id!r}:"
                " the key store was altered or the wrong root key is configured"
            ) from None

    def _load_bucket_to_open(self, key_id: bytes) -> UnwrappedBucketKey:
        """The cache missed: the bucket a wrapped data key names, if it is still alive."""
        now_s = self._clock_s()
        row = self._keystore.bucket_by_key_id(key_id.hex())
        if (
            row is None
            or row.state != ACTIVE
            or row.wrapped_key is None
            or now_s >= _day_start_s(row.day)
        ):
            raise DecryptError
        return self._load_bucket(row, row.wrapped_key, now_s)

    def _create_bucket(self, client_id: str, day: date, now_s: float) -> UnwrappedBucketKey:
        raw_key = self._random_bytes(_format.KEY_BYTES)
        key_id = self._random_bytes(_format.KEY_ID_BYTES).hex()
        root = self._keyring.current
        row = BucketKeyRow(
            client_id=client_id,
            day=day,
            key_id=key_id,
            root_key_id=root.root_key_id,
            wrapped_key=root.wrap_key(raw_key, _format.bucket_root_context(client_id, day, key_id)),
            commitment=_format.key_commitment(raw_key, client_id, day, key_id),
            state=ACTIVE,
            created_at=datetime.fromtimestamp(now_s, UTC),
        )
        stored = self._keystore.add_bucket(row)
        if stored.key_id == key_id:
            return self._cache_bucket(stored, raw_key, now_s)
        # Another process created the bucket first: use its key, drop ours.
        if stored.state != ACTIVE or stored.wrapped_key is None:
            raise BucketDestroyedError(
                f"bucket {day.isoformat()} of client {client_id!r} is destroyed"
            )
        return self._load_bucket(stored, stored.wrapped_key, now_s)

    def _load_bucket(
        self, row: BucketKeyRow, wrapped_key: bytes, now_s: float
    ) -> UnwrappedBucketKey:
        root = self._keyring.provider(row.root_key_id)
        context = _format.bucket_root_context(row.client_id, row.day, row.key_id)
        raw_key = root.unwrap_key(wrapped_key, context)
        # The commitment proves this is the key the row was created with, not a swapped one.
        expected = _format.key_commitment(raw_key, row.client_id, row.day, row.key_id)
        if not hmac.compare_digest(expected, row.commitment):
            raise DecryptError
        return self._cache_bucket(row, raw_key, now_s)

    def _cache_bucket(self, row: BucketKeyRow, raw_key: bytes, now_s: float) -> UnwrappedBucketKey:
        bucket = UnwrappedBucketKey(
            client_id=row.client_id,
            day=row.day,
            key_id=row.key_id,
            aead=self._bucket_aead(raw_key),
            ad=_format.bucket_ad(bytes.fromhex(row.key_id), row.client_id, row.day),
            usable_until_s=min(_day_start_s(row.day), now_s + self._cache_ttl_s),
        )
        self._buckets.put(bucket)
        return bucket

    def _index_key(self, client_id: str) -> IndexKey:
        cached = self._index_keys.get(client_id)
        if cached is not None:
            return cached
        check_client_id(client_id)
        row = self._keystore.index_key(client_id)
        raw_key = None
        if row is None:
            raw_key = self._random_bytes(_format.KEY_BYTES)
            key_id = self._random_bytes(_format.KEY_ID_BYTES).hex()
            root = self._keyring.current
            context = _format.index_root_context(client_id, key_id)
            row = self._keystore.add_index_key(
                IndexKeyRow(
                    client_id=client_id,
                    key_id=key_id,
                    root_key_id=root.root_key_id,
                    wrapped_key=root.wrap_key(raw_key, context),
                    created_at=datetime.fromtimestamp(self._clock_s(), UTC),
                )
            )
            if row.key_id != key_id:  # another process won the race: use its key
                raw_key = None
        if raw_key is None:
            raw_key = self._unwrap_index_key(row)
        index_key = IndexKey(client_id, raw_key)
        self._index_keys.put(client_id, index_key)
        return index_key

    def _unwrap_index_key(self, row: IndexKeyRow) -> bytes:
        context = _format.index_root_context(row.client_id, row.key_id)
        try:
            return self._keyring.provider(row.root_key_id).unwrap_key(row.wrapped_key, context)
        except DecryptError:
            raise KeyStoreError(
                f"index key of client {row.client_id!r} does not open under root"
                f" {row.root_key_id!r}: the key store was altered or the wrong root is configured"
            ) from None

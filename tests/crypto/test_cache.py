"""The bucket-key cache: bounded, evicts what is not in use, counts exactly without a lock on a
hit, and shows nothing key-shaped in any repr or message."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import LocalRootKey, RecordRef, _format
from crypto.cache import BucketKeyCache, UnwrappedBucketKey
from tests.fixtures.keystore import DAY, SqliteKeystore, VaultFactory

PII = b"{}"


def _entry(
    day: date, *, key_id: str | None = None, usable_until_s: float = 1e12
) -> UnwrappedBucketKey:
    key_id = key_id or day.strftime("%Y%m%d").ljust(32, "0")
    return UnwrappedBucketKey(
        client_id="acme",
        day=day,
        key_id=key_id,
        aead=AESGCM(bytes(32)),
        ad=b"",
        usable_until_s=usable_until_s,
    )


def test_the_cache_is_bounded_and_evicts_the_least_recently_used() -> None:
    cache = BucketKeyCache(max_entries=2)
    day1, day2, day3 = DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)
    for day in (day1, day2):
        cache.put(_entry(day))
    assert cache.by_day("acme", day1, 0.0) is not None  # day1 is now the most recent
    cache.put(_entry(day3))  # evicts day2, the least recently used
    assert cache.by_day("acme", day2, 0.0) is None
    assert cache.by_key_id(bytes.fromhex(_entry(day1).key_id), 0.0) is not None
    assert cache.by_day("acme", day3, 0.0) is not None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.max_entries) == (3, 1, 2, 2)
    assert stats.hit_rate == pytest.approx(0.75)


def test_eviction_passes_over_buckets_in_use() -> None:
    cache = BucketKeyCache(max_entries=3)
    day1, day2, day3, day4, day5 = (DAY + timedelta(days=n) for n in range(5))
    for day in (day1, day2, day3):
        cache.put(_entry(day))
    assert cache.by_day("acme", day1, 0.0) is not None
    assert cache.by_day("acme", day3, 0.0) is not None
    cache.put(_entry(day4))  # day2 is the one bucket not used since it was loaded
    assert [cache.by_day("acme", day, 0.0) is not None for day in (day1, day2, day3, day4)] == [
        True,
        False,
        True,
        True,
    ]
    # Every bucket is in use: the clock clears the marks and takes the oldest, never the new one.
    cache.put(_entry(day5))
    assert cache.by_day("acme", day5, 0.0) is not None
    assert cache.stats().entries == 3


def test_hits_are_counted_exactly_across_threads_and_stats_reads() -> None:
    cache = BucketKeyCache(max_entries=4)
    cache.put(_entry(DAY))
    key_id = bytes.fromhex(_entry(DAY).key_id)
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for i in range(5_000):
            assert cache.by_day("acme", DAY, 0.0) is not None
            assert cache.by_key_id(key_id, 0.0) is not None
            if i % 500 == 0:
                cache.stats()  # reading the counter must not count as a hit

    with ThreadPoolExecutor(max_workers=4) as pool:
        for outcome in [pool.submit(work) for _ in range(4)]:
            outcome.result()
    assert cache.by_day("acme", DAY + timedelta(days=9), 0.0) is None
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (4 * 5_000 * 2, 1)
    assert cache.stats().hits == stats.hits


def test_an_expired_lookup_racing_a_reload_keeps_the_fresh_entry() -> None:
    cache = BucketKeyCache(max_entries=4)
    stale = _entry(DAY, key_id="a" * 32, usable_until_s=100.0)
    cache.put(stale)
    # Thread A found `stale` expired; before it takes the lock, thread B reloads the bucket.
    fresh = _entry(DAY, key_id="a" * 32, usable_until_s=500.0)
    cache.put(fresh)
    cache._miss(stale)  # thread A, late
    assert cache.by_day("acme", DAY, 200.0) is fresh
    assert cache.by_key_id(bytes.fromhex("a" * 32), 200.0) is fresh
    cache._miss(stale)  # and twice over: nothing left to remove, no error
    assert cache.stats().entries == 1


def test_entries_expire_and_a_new_key_for_a_day_replaces_the_old() -> None:
    cache = BucketKeyCache(max_entries=4)
    cache.put(_entry(DAY, usable_until_s=100.0))
    assert cache.by_day("acme", DAY, 99.9) is not None
    assert cache.by_day("acme", DAY, 100.0) is None
    assert cache.stats().entries == 0
    cache.put(_entry(DAY, key_id="a" * 32))
    cache.put(_entry(DAY, key_id="b" * 32))
    assert cache.stats().entries == 1
    assert cache.by_key_id(bytes.fromhex("a" * 32), 0.0) is None


def test_one_root_call_serves_a_bucket_and_the_vault_counts_it(
    sqlite_keystore: SqliteKeystore, make_vault: VaultFactory
) -> None:
    vault = make_vault(sqlite_keystore.keystore, cache_size=2)
    sealed = [vault.seal(RecordRef("acme", "amazon", str(i), 1), PII, DAY) for i in range(50)]
    stats = vault.cache_stats()
    assert (stats.misses, stats.hits) == (1, 49)
    for i, one in enumerate(sealed):
        vault.open(RecordRef("acme", "amazon", str(i), 1), one.ciphertext, one.wrapped_key)
    assert vault.cache_stats().hits == 99
    for offset in range(1, 4):  # three more buckets through a cache of two
        vault.seal(RecordRef("acme", "amazon", "x", 1), PII, DAY + timedelta(days=offset))
    assert vault.cache_stats().entries == 2


def test_no_key_material_in_any_repr(
    sqlite_keystore: SqliteKeystore, make_vault: VaultFactory, root_key: LocalRootKey
) -> None:
    vault = make_vault(sqlite_keystore.keystore)
    record = RecordRef("acme", "amazon", "1", 1)
    sealed = vault.seal(record, PII, DAY)
    vault.blind_index("acme", "email", "erika@example.com")
    row = sqlite_keystore.keystore.bucket_for_day("acme", DAY)
    index_row = sqlite_keystore.keystore.index_key("acme")
    assert row is not None
    assert row.wrapped_key is not None
    assert index_row is not None
    raw_key = root_key.unwrap_key(
        row.wrapped_key, _format.bucket_root_context("acme", DAY, row.key_id)
    )
    cached = vault._buckets.by_day("acme", DAY, 0.0)
    index_key = vault._index_keys.get("acme")
    texts = [
        repr(vault),
        repr(root_key),
        repr(row),
        repr(index_row),
        repr(cached),
        repr(index_key),
        repr(sealed),
        repr(sqlite_keystore.keystore),
    ]
    secrets = [raw_key, row.wrapped_key, index_row.wrapped_key]
    assert "key=<redacted>" in repr(cached)
    assert "key=<redacted>" in repr(index_key)
    for text in texts:
        for secret in secrets:
            assert secret.hex() not in text
            assert repr(secret)[2:-1] not in text


def test_one_vault_serves_many_threads(
    sqlite_keystore: SqliteKeystore, make_vault: VaultFactory
) -> None:
    vault = make_vault(sqlite_keystore.keystore, cache_size=3)
    days = [DAY + timedelta(days=i) for i in range(6)]
    for day in days:  # create the buckets up front; the threads then only churn the cache
        vault.seal(RecordRef("acme", "amazon", "warm", 1), PII, day)

    def work(thread: int) -> None:
        for i in range(300):
            record = RecordRef("acme", "amazon", f"{thread}-{i}", 1)
            sealed = vault.seal(record, PII, days[(thread + i) % len(days)])
            assert vault.open(record, sealed.ciphertext, sealed.wrapped_key) == PII

    with ThreadPoolExecutor(max_workers=4) as pool:
        for outcome in [pool.submit(work, n) for n in range(4)]:
            outcome.result()  # re-raises whatever failed in the thread
    stats = vault.cache_stats()
    assert stats.hits + stats.misses == 6 + 4 * 300 * 2
    assert stats.entries <= 3

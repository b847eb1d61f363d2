"""Crypto-shredding: after a bucket is destroyed nothing sealed under it opens, copies included,
and the key store's files keep no trace of the key."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from crypto import (
    BucketDestroyedError,
    DecryptError,
    KeyStore,
    LocalRootKey,
    PiiVault,
    RecordRef,
    _format,
)
from tests.fixtures.keystore import DAY, NOW, NOW_S, SqliteKeystore, VaultFactory

ORDER = RecordRef("acme", "amazon", "302-0000001-0000001", 1)
NEIGHBOUR = RecordRef("acme", "amazon", "302-0000002-0000002", 1)
PII = b'{"name":"Erika Mustermann","phone":"+49 30 1234567"}'
LATER = date(2026, 4, 6)


def test_destroyed_bucket_records_do_not_open(
    sql_keystore: KeyStore, make_vault: VaultFactory
) -> None:
    vault = make_vault(sql_keystore)
    doomed, survivor = vault.seal(ORDER, PII, DAY), vault.seal(NEIGHBOUR, PII, LATER)
    tombstone = vault.destroy_bucket("acme", DAY, NOW)
    assert (tombstone.client_id, tombstone.day, tombstone.key_id) == (
        "acme",
        DAY,
        doomed.bucket_key_id,
    )
    with pytest.raises(DecryptError):
        vault.open(ORDER, doomed.ciphertext, doomed.wrapped_key)
    # Only that bucket died.
    assert vault.open(NEIGHBOUR, survivor.ciphertext, survivor.wrapped_key) == PII


def test_a_copy_taken_before_destruction_does_not_open_afterwards(
    sql_keystore: KeyStore, make_vault: VaultFactory
) -> None:
    writer = make_vault(sql_keystore)
    sealed = writer.seal(ORDER, PII, DAY)
    backup = (bytes(sealed.ciphertext), bytes(sealed.wrapped_key))  # e.g. a data backup
    # Another process had the bucket key cached before it was destroyed.
    reader = make_vault(sql_keystore)
    assert reader.open(ORDER, *backup) == PII
    writer.destroy_bucket("acme", DAY, NOW)
    # A fresh process (empty cache) with the key store as it is now cannot open the copy...
    with pytest.raises(DecryptError):
        make_vault(sql_keystore).open(ORDER, *backup)
    # ...and neither can a rewrap move its data key to a live bucket.
    with pytest.raises(DecryptError):
        make_vault(sql_keystore).rewrap(ORDER, backup[1], LATER)


def test_a_process_with_the_key_cached_loses_it_after_the_cache_ttl(
    sql_keystore: KeyStore, make_vault: VaultFactory
) -> None:
    clock = {"now_s": NOW_S}
    reader = make_vault(sql_keystore, clock_s=lambda: clock["now_s"], cache_ttl_s=60.0)
    sealed = reader.seal(ORDER, PII, DAY)
    make_vault(sql_keystore).destroy_bucket("acme", DAY, NOW)  # another process
    assert reader.open(ORDER, sealed.ciphertext, sealed.wrapped_key) == PII  # still cached
    clock["now_s"] += 60.0
    with pytest.raises(DecryptError):
        reader.open(ORDER, sealed.ciphertext, sealed.wrapped_key)


def test_no_process_uses_a_bucket_key_once_its_day_has_begun(
    sql_keystore: KeyStore, make_vault: VaultFactory
) -> None:
    clock = {"now_s": NOW_S}
    vault = make_vault(sql_keystore, clock_s=lambda: clock["now_s"])
    sealed = vault.seal(ORDER, PII, DAY)
    day_start_s = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp()
    clock["now_s"] = day_start_s - 1
    assert vault.open(ORDER, sealed.ciphertext, sealed.wrapped_key) == PII
    clock["now_s"] = day_start_s  # the expiry job has not run yet; the key is dead anyway
    with pytest.raises(DecryptError):
        vault.open(ORDER, sealed.ciphertext, sealed.wrapped_key)
    with pytest.raises(DecryptError):
        make_vault(sql_keystore, clock_s=lambda: day_start_s).open(
            ORDER, sealed.ciphertext, sealed.wrapped_key
        )
    with pytest.raises(BucketDestroyedError):
        vault.seal(ORDER, PII, DAY)


def test_sealing_into_a_past_or_destroyed_bucket_is_refused(
    sql_keystore: KeyStore, make_vault: VaultFactory
) -> None:
    vault = make_vault(sql_keystore)
    with pytest.raises(BucketDestroyedError):
        vault.seal(ORDER, PII, NOW.date())  # today has begun
    vault.seal(ORDER, PII, DAY)
    vault.destroy_bucket("acme", DAY, NOW)
    with pytest.raises(BucketDestroyedError):
        vault.seal(ORDER, PII, DAY)
    sealed = vault.seal(NEIGHBOUR, PII, LATER)
    with pytest.raises(BucketDestroyedError):
        vault.rewrap(NEIGHBOUR, sealed.wrapped_key, DAY)


def test_destroying_is_idempotent_and_the_commitment_names_the_key(
    sql_keystore: KeyStore, make_vault: VaultFactory, root_key: LocalRootKey
) -> None:
    vault = make_vault(sql_keystore)
    sealed = vault.seal(ORDER, PII, DAY)
    row = sql_keystore.bucket_for_day("acme", DAY)
    assert row is not None
    assert row.wrapped_key is not None
    context = _format.bucket_root_context("acme", DAY, row.key_id)
    raw_key = root_key.unwrap_key(row.wrapped_key, context)

    first = vault.destroy_bucket("acme", DAY, NOW)
    again = vault.destroy_bucket("acme", DAY, NOW + timedelta(hours=1))
    assert again == first
    assert first.destroyed_at == NOW
    assert first.key_id == sealed.bucket_key_id
    # Whoever kept the raw key can prove it is the one that died; the tombstone alone cannot.
    assert first.commitment == _format.key_commitment(raw_key, "acme", DAY, row.key_id)
    assert first.commitment is not None
    assert raw_key.hex() not in first.commitment
    after = sql_keystore.bucket_for_day("acme", DAY)
    assert after is not None
    assert (after.state, after.wrapped_key) == ("destroyed", None)


def test_destroying_a_day_without_a_key_closes_it(
    sql_keystore: KeyStore, make_vault: VaultFactory
) -> None:
    vault = make_vault(sql_keystore)
    tombstone = vault.destroy_bucket("acme", DAY, NOW)
    assert tombstone.commitment is None
    with pytest.raises(BucketDestroyedError):
        vault.seal(ORDER, PII, DAY)
    assert vault.destroy_bucket("acme", DAY, NOW) == tombstone


def test_key_status_and_buckets_due(sql_keystore: KeyStore, make_vault: VaultFactory) -> None:
    vault = make_vault(sql_keystore)
    for day in (DAY, LATER, date(2026, 5, 1)):
        vault.seal(ORDER, PII, day)
    vault.seal(RecordRef("globex", "ebay", "1", 1), PII, DAY)
    vault.destroy_bucket("acme", DAY, NOW)
    status = vault.key_status("acme")
    assert (status.active_buckets, status.destroyed_buckets) == (2, 1)
    assert status.next_destruction_day == LATER
    assert vault.buckets_due(LATER) == [("globex", DAY), ("acme", LATER)]
    assert vault.key_status("nobody").next_destruction_day is None


def test_key_store_files_keep_no_trace_of_a_destroyed_key(
    sqlite_keystore: SqliteKeystore, make_vault: VaultFactory, root_key: LocalRootKey
) -> None:
    vault = make_vault(sqlite_keystore.keystore)
    vault.seal(ORDER, PII, DAY)
    vault.seal(NEIGHBOUR, PII, LATER)
    row = sqlite_keystore.keystore.bucket_for_day("acme", DAY)
    assert row is not None
    assert row.wrapped_key is not None
    raw_key = root_key.unwrap_key(
        row.wrapped_key, _format.bucket_root_context("acme", DAY, row.key_id)
    )
    # The search works: before destruction the wrapped key is on disk (the raw key never is).
    assert row.wrapped_key in sqlite_keystore.file_bytes()
    assert raw_key not in sqlite_keystore.file_bytes()

    vault.destroy_bucket("acme", DAY, NOW)

    on_disk = sqlite_keystore.file_bytes()
    assert row.wrapped_key not in on_disk
    assert raw_key not in on_disk
    # Not even a fragment long enough to matter survives in a freed page or an old WAL frame.
    for start in range(0, len(row.wrapped_key) - 16 + 1, 8):
        assert row.wrapped_key[start : start + 16] not in on_disk
    # The survivor is still there: the scrub did not throw away live keys.
    survivor = sqlite_keystore.keystore.bucket_for_day("acme", LATER)
    assert survivor is not None
    assert survivor.wrapped_key is not None
    assert survivor.wrapped_key in on_disk


def test_destroy_evicts_the_bucket_from_the_cache(
    sql_keystore: KeyStore, make_vault: VaultFactory
) -> None:
    vault: PiiVault = make_vault(sql_keystore)
    sealed = vault.seal(ORDER, PII, DAY)
    assert vault.cache_stats().entries == 1
    vault.destroy_bucket("acme", DAY, NOW)
    assert vault.cache_stats().entries == 0
    with pytest.raises(DecryptError):
        vault.open(ORDER, sealed.ciphertext, sealed.wrapped_key)


def test_destroying_the_index_key_leaves_no_copy_and_changes_every_digest(
    tmp_path: Path,
) -> None:
    import sqlalchemy as sa

    from crypto import LocalRootKey, PiiVault
    from storage import create_engine, upgrade
    from storage.keystore import SqlKeyStore

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url, keystore=True)
    engine = create_engine(url, keystore=True)
    store = SqlKeyStore(engine)
    vault = PiiVault(LocalRootKey(bytes(range(32))), store)
    before = vault.blind_index("acme", "email", "buyer@example.invalid")
    wrapped = store.index_key("acme")
    assert wrapped is not None
    assert vault.destroy_index_key("acme") is True
    assert store.index_key("acme") is None
    assert vault.destroy_index_key("acme") is False
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        file = tmp_path / f"keys.db{suffix}"
        if file.exists():
            assert wrapped.wrapped_key not in file.read_bytes()
    # A later use makes a new, unrelated key: old digests match nothing.
    engine = create_engine(url, keystore=True)
    fresh = PiiVault(LocalRootKey(bytes(range(32))), SqlKeyStore(engine))
    assert fresh.blind_index("acme", "email", "buyer@example.invalid") != before
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM index_keys")).scalar() == 1
    engine.dispose()

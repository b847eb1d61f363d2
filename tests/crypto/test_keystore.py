"""The SQL key store behind `crypto.KeyStore`, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest

from crypto import BucketKeyRow, IndexKeyRow, KeyStoreError, RecordRef, Sealed
from storage.keystore import SqlKeyStore
from tests.fixtures.keystore import DAY, NOW, VaultFactory

PII = b'{"email":"erika@example.com"}'


def _bucket(key_id: str, *, day: date = DAY, root_key_id: str = "local:r1") -> BucketKeyRow:
    return BucketKeyRow(
        client_id="acme",
        day=day,
        key_id=key_id,
        root_key_id=root_key_id,
        wrapped_key=b"wrapped-" + key_id.encode(),
        commitment="c" * 64,
        state="active",
        created_at=NOW,
    )


def test_adding_a_bucket_twice_reads_back_the_first(sql_keystore: SqlKeyStore) -> None:
    first = sql_keystore.add_bucket(_bucket("a" * 32))
    second = sql_keystore.add_bucket(_bucket("b" * 32))
    assert first == second == _bucket("a" * 32)
    assert sql_keystore.bucket_by_key_id("b" * 32) is None
    assert sql_keystore.bucket_by_key_id("a" * 32) == first
    assert sql_keystore.bucket_for_day("acme", DAY) == first
    assert sql_keystore.bucket_for_day("acme", DAY + timedelta(days=1)) is None


def test_adding_an_index_key_twice_reads_back_the_first(sql_keystore: SqlKeyStore) -> None:
    row = IndexKeyRow("acme", "a" * 32, "local:r1", b"wrapped", NOW)
    assert sql_keystore.add_index_key(row) == row
    assert sql_keystore.add_index_key(IndexKeyRow("acme", "b" * 32, "r", b"x", NOW)) == row
    assert sql_keystore.index_key("acme") == row
    assert sql_keystore.index_key("globex") is None


def test_racing_processes_end_with_one_bucket_key(
    sql_keystore: SqlKeyStore, make_vault: VaultFactory
) -> None:
    vaults = [make_vault(sql_keystore) for _ in range(4)]
    start = threading.Barrier(len(vaults))

    def seal(index: int) -> tuple[RecordRef, Sealed]:
        start.wait()
        record = RecordRef("acme", "amazon", f"order-{index}", 1)
        result = vaults[index].seal(record, PII, DAY)
        vaults[index].blind_index("acme", "email", "erika@example.com")
        return record, result

    with ThreadPoolExecutor(max_workers=len(vaults)) as pool:
        sealed = list(pool.map(seal, range(len(vaults))))
    key_ids = {result.bucket_key_id for _, result in sealed}
    assert len(key_ids) == 1
    # Every process opens every other process's records: they all use the stored key.
    for vault in vaults:
        for record, result in sealed:
            assert vault.open(record, result.ciphertext, result.wrapped_key) == PII
    digests = {vault.blind_index("acme", "email", "erika@example.com") for vault in vaults}
    assert len(digests) == 1


def test_destroying_an_unknown_bucket_is_an_error(sql_keystore: SqlKeyStore) -> None:
    with pytest.raises(KeyStoreError, match="no bucket key"):
        sql_keystore.destroy_bucket("acme", DAY, NOW)


def test_destroy_keeps_the_tombstone_and_is_idempotent(sql_keystore: SqlKeyStore) -> None:
    sql_keystore.add_bucket(_bucket("a" * 32))
    destroyed = sql_keystore.destroy_bucket("acme", DAY, NOW)
    assert (destroyed.state, destroyed.wrapped_key, destroyed.destroyed_at) == (
        "destroyed",
        None,
        NOW,
    )
    assert destroyed.commitment == "c" * 64
    assert sql_keystore.destroy_bucket("acme", DAY, NOW + timedelta(days=1)) == destroyed


def test_rewrapping_is_compare_and_set(sql_keystore: SqlKeyStore) -> None:
    sql_keystore.add_bucket(_bucket("a" * 32))
    sql_keystore.add_bucket(_bucket("b" * 32, day=DAY + timedelta(days=1)))
    sql_keystore.add_index_key(IndexKeyRow("acme", "c" * 32, "local:r1", b"w", NOW))
    assert sql_keystore.count_wrapped_under("local:r1") == 3
    assert [r.key_id for r in sql_keystore.buckets_wrapped_under("local:r1", 1)] == ["a" * 32]

    assert sql_keystore.replace_bucket_wrapping("a" * 32, "local:r1", "local:r2", b"new")
    assert not sql_keystore.replace_bucket_wrapping("a" * 32, "local:r1", "local:r2", b"x")
    assert sql_keystore.replace_index_key_wrapping("acme", "local:r1", "local:r2", b"new")
    assert not sql_keystore.replace_index_key_wrapping("acme", "local:r1", "local:r2", b"x")
    moved = sql_keystore.bucket_by_key_id("a" * 32)
    assert moved is not None
    assert (moved.root_key_id, moved.wrapped_key) == ("local:r2", b"new")
    assert sql_keystore.count_wrapped_under("local:r1") == 1

    # A destroyed bucket needs no root any more and is never rewrapped.
    sql_keystore.destroy_bucket("acme", DAY + timedelta(days=1), NOW)
    assert sql_keystore.count_wrapped_under("local:r1") == 0
    assert sql_keystore.buckets_wrapped_under("local:r1", 10) == []
    assert not sql_keystore.replace_bucket_wrapping("b" * 32, "local:r1", "local:r2", b"x")


def test_rotations_are_recorded_until_finished(sql_keystore: SqlKeyStore) -> None:
    assert sql_keystore.running_rotations() == []
    rotation = sql_keystore.start_rotation("local:r1", "local:r2", NOW)
    assert sql_keystore.running_rotations() == [rotation]
    assert (rotation.state, rotation.finished_at) == ("running", None)
    sql_keystore.finish_rotation(rotation.id, NOW + timedelta(minutes=1))
    assert sql_keystore.running_rotations() == []

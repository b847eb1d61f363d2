"""Root-key rotation: every key rewrapped, nothing else touched, resumable after a crash."""

from __future__ import annotations

import stat
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from crypto import (
    AwsKmsRootKey,
    KeyStore,
    LocalRootKey,
    PiiVault,
    RecordRef,
    RootKeyProvider,
    RootKeyring,
    RotationError,
    Sealed,
    discard_retired_local_root_keys,
    finish_root_rotations,
    init_local_root_key,
    load_local_root_keyring,
    rotate_root,
    stage_local_root_rotation,
)
from tests.fixtures.keystore import DAY, NOW, NOW_S, VaultFactory

PII = b'{"name":"Erika Mustermann"}'
DAYS = [DAY + timedelta(days=i) for i in range(5)]


class CrashingRoot(RootKeyProvider):
    """Wraps like `inner` until `crash_after` wraps, then dies like a killed process."""

    def __init__(self, inner: RootKeyProvider, crash_after: int) -> None:
        self.inner = inner
        self.wraps_left = crash_after

    @property
    def root_key_id(self) -> str:
        return self.inner.root_key_id

    def wrap_key(self, key: bytes, context: Mapping[str, str]) -> bytes:
        if self.wraps_left == 0:
            raise KeyboardInterrupt("simulated crash")
        self.wraps_left -= 1
        return self.inner.wrap_key(key, context)

    def unwrap_key(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        return self.inner.unwrap_key(wrapped_key, context)


def _seal_everywhere(vault: PiiVault) -> list[tuple[RecordRef, Sealed]]:
    sealed = []
    for index, day in enumerate(DAYS):
        for client in ("acme", "globex"):
            record = RecordRef(client, "amazon", f"order-{index}", 1)
            sealed.append((record, vault.seal(record, PII, day)))
            vault.blind_index(client, "email", "erika@example.com")
    return sealed


def _all_open(vault: PiiVault, sealed: list[tuple[RecordRef, Sealed]]) -> bool:
    return all(vault.open(r, s.ciphertext, s.wrapped_key) == PII for r, s in sealed)


def test_rotation_rewraps_every_key_and_touches_nothing_else(
    sql_keystore: KeyStore, make_vault: VaultFactory, root_key: LocalRootKey, tmp_path: Path
) -> None:
    vault = make_vault(sql_keystore)
    sealed = _seal_everywhere(vault)
    digest = vault.blind_index("acme", "email", "erika@example.com")
    vault.destroy_bucket("acme", DAYS[0], NOW)
    new_root = init_local_root_key(tmp_path / "new.key")

    report = rotate_root(sql_keystore, root_key, new_root, clock_s=lambda: NOW_S)

    assert (report.bucket_keys_rewrapped, report.index_keys_rewrapped) == (9, 2)
    assert not report.resumed
    assert sql_keystore.count_wrapped_under(root_key.root_key_id) == 0
    assert sql_keystore.running_rotations() == []
    # Data keys and ciphertext are untouched: the very same stored bytes open under the new
    # root alone, and the blind index still finds the same buyer.
    after = make_vault(sql_keystore, root=new_root)
    live = [(r, s) for r, s in sealed if (r.client_id, s.bucket_day) != ("acme", DAYS[0])]
    assert _all_open(after, live)
    assert after.blind_index("acme", "email", "erika@example.com") == digest


def test_an_interrupted_rotation_resumes_and_completes(
    sql_keystore: KeyStore, make_vault: VaultFactory, root_key: LocalRootKey, tmp_path: Path
) -> None:
    sealed = _seal_everywhere(make_vault(sql_keystore))
    new_root = init_local_root_key(tmp_path / "new.key")

    with pytest.raises(KeyboardInterrupt):
        rotate_root(sql_keystore, root_key, CrashingRoot(new_root, crash_after=4))

    # Half done: some rows under each root, and the running rotation recorded.
    assert 0 < sql_keystore.count_wrapped_under(new_root.root_key_id) < 12
    [running] = sql_keystore.running_rotations()
    assert (running.from_root_key_id, running.to_root_key_id) == (
        root_key.root_key_id,
        new_root.root_key_id,
    )
    # Meanwhile a process holding both roots keeps working, whichever root wraps a row.
    both = make_vault(sql_keystore, root=RootKeyring(new_root, [root_key]))
    assert _all_open(both, sealed)
    # A rotation elsewhere must wait for this one.
    with pytest.raises(RotationError, match="unfinished"):
        rotate_root(sql_keystore, new_root, init_local_root_key(tmp_path / "third.key"))

    report = rotate_root(sql_keystore, root_key, new_root)

    assert report.resumed
    assert report.rotation_id == running.id
    assert report.bucket_keys_rewrapped + report.index_keys_rewrapped == 12 - 4
    assert sql_keystore.count_wrapped_under(root_key.root_key_id) == 0
    assert sql_keystore.running_rotations() == []
    assert _all_open(make_vault(sql_keystore, root=new_root), sealed)


def test_rotation_to_the_same_root_is_refused(
    sql_keystore: KeyStore, root_key: LocalRootKey
) -> None:
    with pytest.raises(RotationError, match="same key"):
        rotate_root(sql_keystore, root_key, root_key)


def test_local_rotation_flow_with_the_key_file_layout(
    sql_keystore: KeyStore, make_vault: VaultFactory, root_key: LocalRootKey, tmp_path: Path
) -> None:
    path = tmp_path / "var" / "root.key"
    sealed = _seal_everywhere(make_vault(sql_keystore))

    old, new = stage_local_root_rotation(path)

    assert old.root_key_id == root_key.root_key_id
    assert LocalRootKey.from_file(path).root_key_id == new.root_key_id
    retired = path.parent / "root.key.retired" / f"{old.fingerprint}.key"
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    assert stat.S_IMODE(retired.parent.stat().st_mode) == 0o700
    keyring = load_local_root_keyring(path)
    assert keyring.current.root_key_id == new.root_key_id
    assert keyring.root_key_ids == sorted([old.root_key_id, new.root_key_id])
    # Nothing may be discarded while keys still need the retired root.
    assert discard_retired_local_root_keys(path, sql_keystore) == []

    reports = finish_root_rotations(sql_keystore, keyring)

    assert [(r.from_root_key_id, r.to_root_key_id) for r in reports] == [
        (old.root_key_id, new.root_key_id)
    ]
    assert finish_root_rotations(sql_keystore, keyring) == []  # nothing left pending
    assert discard_retired_local_root_keys(path, sql_keystore) == [old.root_key_id]
    assert not retired.exists()
    assert _all_open(make_vault(sql_keystore, root=load_local_root_keyring(path)), sealed)


def test_finishing_resumes_a_crashed_rotation_from_the_keyring(
    sql_keystore: KeyStore, make_vault: VaultFactory, tmp_path: Path
) -> None:
    path = tmp_path / "var" / "root.key"
    sealed = _seal_everywhere(make_vault(sql_keystore))
    old, new = stage_local_root_rotation(path)
    with pytest.raises(KeyboardInterrupt):
        rotate_root(sql_keystore, old, CrashingRoot(new, crash_after=3))

    [report] = finish_root_rotations(sql_keystore, load_local_root_keyring(path))

    assert report.resumed
    assert sql_keystore.count_wrapped_under(old.root_key_id) == 0
    assert _all_open(make_vault(sql_keystore, root=new), sealed)


@pytest.fixture
def kms_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("kms", region_name="eu-central-1")


def test_rotation_from_a_local_root_to_aws_kms(
    sql_keystore: KeyStore, make_vault: VaultFactory, root_key: LocalRootKey, kms_client: Any
) -> None:
    sealed = _seal_everywhere(make_vault(sql_keystore))
    kms_root = AwsKmsRootKey(kms_client.create_key()["KeyMetadata"]["KeyId"], client=kms_client)
    rotate_root(sql_keystore, root_key, kms_root)
    assert sql_keystore.count_wrapped_under(kms_root.root_key_id) == 12
    assert _all_open(make_vault(sql_keystore, root=kms_root), sealed)

"""Root-key providers: the local key file and AWS KMS (against moto)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from crypto import (
    AwsKmsRootKey,
    DecryptError,
    LocalRootKey,
    RecordRef,
    RootKeyError,
    RootKeyring,
    _format,
    init_local_root_key,
)
from tests.fixtures.keystore import DAY, SqliteKeystore, VaultFactory

CONTEXT = _format.bucket_root_context("acme", DAY, "a" * 32)
KEY = bytes(range(32))
ORDER = RecordRef("acme", "amazon", "302-0000001-0000001", 1)


# --- local -------------------------------------------------------------------------------------


def test_init_creates_an_owner_only_key_file(tmp_path: Path) -> None:
    path = tmp_path / "var" / "root.key"
    created = init_local_root_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert LocalRootKey.from_file(path).root_key_id == created.root_key_id
    assert created.root_key_id.startswith("local:")


def test_init_is_exact_about_the_mode_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        init_local_root_key(tmp_path / "root.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "root.key").stat().st_mode) == 0o600


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    first = init_local_root_key(path)
    with pytest.raises(RootKeyError, match="refusing to overwrite"):
        init_local_root_key(path)
    assert LocalRootKey.from_file(path).root_key_id == first.root_key_id


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660])
def test_loading_refuses_a_key_file_group_or_others_can_touch(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "root.key"
    init_local_root_key(path)
    path.chmod(mode)
    with pytest.raises(RootKeyError) as caught:
        LocalRootKey.from_file(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"{mode:04o}" in message
    assert path.read_bytes().hex() not in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_loading_accepts_owner_only_modes(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "root.key"
    init_local_root_key(path)
    path.chmod(mode)
    LocalRootKey.from_file(path)


def test_loading_refuses_a_missing_or_malformed_key_file(tmp_path: Path) -> None:
    with pytest.raises(RootKeyError, match="does not exist"):
        LocalRootKey.from_file(tmp_path / "absent.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    short.chmod(0o600)
    with pytest.raises(RootKeyError, match="31 bytes"):
        LocalRootKey.from_file(short)


def test_local_wrap_is_bound_to_its_context_and_root(tmp_path: Path) -> None:
    root = init_local_root_key(tmp_path / "root.key")
    other = init_local_root_key(tmp_path / "other.key")
    wrapped = root.wrap_key(KEY, CONTEXT)
    assert root.unwrap_key(wrapped, CONTEXT) == KEY
    with pytest.raises(DecryptError):
        root.unwrap_key(wrapped, _format.bucket_root_context("acme", DAY, "b" * 32))
    with pytest.raises(DecryptError):
        other.unwrap_key(wrapped, CONTEXT)


def test_providers_and_keyrings_never_show_key_bytes(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    root = init_local_root_key(path)
    text = repr(root) + repr(RootKeyring(root))
    assert path.read_bytes().hex() not in text
    assert root.root_key_id in text


def test_a_keyring_names_a_missing_root(tmp_path: Path) -> None:
    keyring = RootKeyring(init_local_root_key(tmp_path / "root.key"))
    with pytest.raises(RootKeyError, match="local:gone"):
        keyring.provider("local:gone")


# --- aws-kms -----------------------------------------------------------------------------------


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("kms", region_name="eu-central-1")


def test_aws_kms_round_trip_names_the_key_arn(kms: Any) -> None:
    key = kms.create_key(Description="ordervault root")["KeyMetadata"]
    kms.create_alias(AliasName="alias/ordervault", TargetKeyId=key["KeyId"])
    root = AwsKmsRootKey("alias/ordervault", region="eu-central-1")
    assert root.root_key_id == "aws-kms:" + key["Arn"]
    wrapped = root.wrap_key(KEY, CONTEXT)
    assert KEY not in wrapped
    assert root.unwrap_key(wrapped, CONTEXT) == KEY


def test_aws_kms_refuses_another_context_or_tampered_bytes(kms: Any) -> None:
    root = AwsKmsRootKey(kms.create_key()["KeyMetadata"]["KeyId"], client=kms)
    wrapped = root.wrap_key(KEY, CONTEXT)
    with pytest.raises(DecryptError):
        root.unwrap_key(wrapped, _format.bucket_root_context("globex", DAY, "a" * 32))
    with pytest.raises(DecryptError):
        root.unwrap_key(wrapped[:-1] + bytes([wrapped[-1] ^ 1]), CONTEXT)


def test_aws_kms_refuses_a_blob_of_another_key(kms: Any) -> None:
    root = AwsKmsRootKey(kms.create_key()["KeyMetadata"]["KeyId"], client=kms)
    other = AwsKmsRootKey(kms.create_key()["KeyMetadata"]["KeyId"], client=kms)
    # Real KMS answers IncorrectKeyException (-> DecryptError); moto says AccessDenied.
    with pytest.raises((DecryptError, RootKeyError)):
        other.unwrap_key(root.wrap_key(KEY, CONTEXT), CONTEXT)


@pytest.mark.parametrize(
    ("operation", "code", "raised", "permanent"),
    [
        ("decrypt", "IncorrectKeyException", DecryptError, None),
        ("decrypt", "InvalidCiphertextException", DecryptError, None),
        ("decrypt", "KMSInternalException", RootKeyError, False),
        ("decrypt", "ThrottlingException", RootKeyError, False),
        ("encrypt", "DisabledException", RootKeyError, True),
        ("encrypt", "AccessDeniedException", RootKeyError, True),
    ],
)
def test_aws_kms_error_codes_map_to_one_decrypt_error_or_a_root_key_error(
    kms: Any, operation: str, code: str, raised: type[Exception], permanent: bool | None
) -> None:
    root = AwsKmsRootKey(kms.create_key()["KeyMetadata"]["KeyId"], client=kms)
    with Stubber(kms) as stub:
        stub.add_client_error(operation, service_error_code=code, service_message="no")
        call = root.wrap_key if operation == "encrypt" else root.unwrap_key
        with pytest.raises(raised) as caught:
            call(KEY, CONTEXT)
    if permanent is not None:
        assert caught.value.permanent is permanent  # type: ignore[attr-defined]
        assert code in str(caught.value)
    assert KEY.hex() not in str(caught.value)
    assert caught.value.__cause__ is None


def test_aws_kms_unknown_key_is_a_permanent_root_key_error(kms: Any) -> None:
    with pytest.raises(RootKeyError, match="DescribeKey failed: NotFoundException") as caught:
        AwsKmsRootKey("alias/missing", client=kms)
    assert caught.value.permanent


def test_a_vault_on_aws_kms_seals_and_opens_with_one_kms_call_per_bucket(
    kms: Any, sqlite_keystore: SqliteKeystore, make_vault: VaultFactory
) -> None:
    calls: list[str] = []
    kms.meta.events.register("before-call.kms.*", lambda model, **_: calls.append(model.name))
    root = AwsKmsRootKey(kms.create_key()["KeyMetadata"]["KeyId"], client=kms)
    writer = make_vault(sqlite_keystore.keystore, root=root)
    sealed = [
        writer.seal(RecordRef("acme", "amazon", f"order-{i}", 1), b"pii", DAY) for i in range(20)
    ]
    assert calls.count("Encrypt") == 1
    reader = make_vault(sqlite_keystore.keystore, root=root)
    for i, one in enumerate(sealed):
        record = RecordRef("acme", "amazon", f"order-{i}", 1)
        assert reader.open(record, one.ciphertext, one.wrapped_key) == b"pii"
    assert calls.count("Decrypt") == 1
    row = sqlite_keystore.keystore.bucket_for_day("acme", DAY)
    assert row is not None
    assert row.root_key_id == root.root_key_id

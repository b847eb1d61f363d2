"""The SFTP destination against a real OpenSSH sshd on a loopback port."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pipeline.destinations import Sftp, TransportError, batch_idempotency_key
from pipeline.destinations.csv_format import CSV_COLUMNS
from pipeline.destinations.ssh_keys import PinnedHostKey
from tests.destinations.conftest import numbered, sftp_config
from tests.fixtures.sshd import SshServer, free_port, random_host_key

NOW_S = 1_790_000_000.0


def destination(tmp_path: Path, server: SshServer, remote: Path, **fields: object) -> Sftp:
    remote.mkdir(parents=True, exist_ok=True)
    settings: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "host_key": server.host_key,
        "remote_dir": str(remote),
        "timeout_s": 5.0,
        **fields,
    }
    return Sftp(sftp_config(tmp_path, server.client_key_file, **settings), clock_s=lambda: NOW_S)


def send_error(sftp: Sftp, count: int = 1) -> TransportError:
    with pytest.raises(TransportError) as caught:
        sftp.send(numbered(count))
    return caught.value


def test_jsonl_files_arrive_complete_and_private(tmp_path: Path, sshd: SshServer) -> None:
    remote = sshd.upload_root / "jsonl"
    sftp = destination(tmp_path, sshd, remote, batch_size=2)
    assert sftp.transport == "sftp (SSH-2), pinned host key"
    batch = numbered(3)
    sftp.send(batch)

    files = sorted(remote.iterdir())
    assert [f.name for f in files] == sorted(
        f"orders-20260921T141320Z-{batch_idempotency_key(chunk)[:16]}.jsonl"
        for chunk in (batch[:2], batch[2:])
    )
    received = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert sorted(d["ordervault"]["idempotency_key"] for d in received) == sorted(
        o.idempotency_key for o in batch
    )
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_each_file_is_complete_under_a_hidden_name_before_the_rename(
    tmp_path: Path, sshd: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sshd writes to this machine's disk, so the test can look at the remote side at the
    # moment of each rename.
    remote = sshd.upload_root / "atomic"
    seen: list[tuple[str, str]] = []
    real_from_transport = paramiko.SFTPClient.from_transport

    def from_transport(transport: object) -> object:
        client = real_from_transport(transport)
        real_rename = client.posix_rename

        def posix_rename(source: str, target: str) -> None:
            temporary, final = Path(source), Path(target)
            assert temporary.name.startswith(".")
            assert temporary.name.endswith(".part")
            assert stat.S_IMODE(temporary.stat().st_mode) == 0o600
            assert not final.exists()
            lines = temporary.read_text().splitlines()
            assert all(json.loads(line)["ordervault"]["schema_version"] == 1 for line in lines)
            seen.append((temporary.name, final.name))
            real_rename(source, target)

        client.posix_rename = posix_rename
        return client

    monkeypatch.setattr(paramiko.SFTPClient, "from_transport", from_transport)
    destination(tmp_path, sshd, remote, batch_size=2).send(numbered(3))

    assert len(seen) == 2
    assert sorted(p.name for p in remote.iterdir()) == sorted(final for _, final in seen)


def test_csv_files_have_one_row_per_item(tmp_path: Path, sshd: SshServer) -> None:
    remote = sshd.upload_root / "csv"
    batch = numbered(2)
    destination(tmp_path, sshd, remote, format="csv").send(batch)
    (path,) = remote.iterdir()
    assert path.suffix == ".csv"
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    assert [row["idempotency_key"] for row in rows] == [o.idempotency_key for o in batch]
    assert rows[0]["item_sku"] == "MUG-BLUE"


def test_a_wrong_pinned_host_key_is_refused_permanently(tmp_path: Path, sshd: SshServer) -> None:
    remote = sshd.upload_root / "impostor"
    sftp = destination(tmp_path, sshd, remote)
    sftp._host_key = PinnedHostKey.parse(random_host_key())  # as if the server key changed
    error = send_error(sftp)
    assert error.permanent
    assert "does not match the pinned key" in error.message
    assert PinnedHostKey.parse(sshd.host_key).fingerprint in error.message  # what it presented
    assert list(remote.iterdir()) == []


def test_a_pinned_key_of_another_type_is_refused_permanently(
    tmp_path: Path, sshd: SshServer
) -> None:
    ecdsa = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    remote = sshd.upload_root / "other-type"
    error = send_error(destination(tmp_path, sshd, remote, host_key=ecdsa))
    assert error.permanent
    assert "does not match the pinned key" in error.message


def test_an_unauthorised_client_key_is_permanent(tmp_path: Path, sshd: SshServer) -> None:
    from tests.fixtures.sshd import _keypair

    other_key, _ = _keypair(tmp_path, "stranger")
    remote = sshd.upload_root / "stranger"
    remote.mkdir()
    config = sftp_config(
        tmp_path,
        other_key,
        host=sshd.host,
        port=sshd.port,
        username=sshd.username,
        host_key=sshd.host_key,
        remote_dir=str(remote),
    )
    error = send_error(Sftp(config))
    assert error.permanent
    assert "refused the key" in error.message


def test_a_missing_remote_folder_is_permanent(tmp_path: Path, sshd: SshServer) -> None:
    sftp = destination(tmp_path, sshd, sshd.upload_root / "exists")
    sftp._config = sftp._config.model_copy(update={"remote_dir": str(sshd.upload_root / "gone")})
    error = send_error(sftp)
    assert error.permanent
    assert "FileNotFoundError" in error.message


def test_an_unreachable_port_is_retryable(tmp_path: Path, sshd: SshServer) -> None:
    port = free_port()
    config = sftp_config(
        tmp_path,
        sshd.client_key_file,
        host="127.0.0.1",
        port=port,
        username=sshd.username,
        host_key=sshd.host_key,
    )
    error = send_error(Sftp(config))
    assert not error.permanent
    assert f"127.0.0.1:{port}" in error.message
    assert "ConnectionRefusedError" in error.message


def test_unusable_keys_fail_at_construction(tmp_path: Path, sshd: SshServer) -> None:
    garbage = tmp_path / "garbage.key"
    garbage.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    with pytest.raises(ValueError, match="private_key"):
        Sftp(sftp_config(tmp_path, garbage, host="127.0.0.1", username="u", host_key=sshd.host_key))
    with pytest.raises(ValueError, match="host_key"):
        PinnedHostKey.parse("ssh-ed25519 AAAAB3NzaC1yc2E=")  # says ed25519, holds ssh-rsa

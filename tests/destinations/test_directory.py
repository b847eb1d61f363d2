"""The directory destination: complete JSON Lines files, mode 0600, atomic rename."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.destinations import Directory, TransportError, batch_idempotency_key
from tests.destinations.conftest import directory_config, numbered

NOW_S = 1_790_000_000.0  # 2026-09-21T14:13:20Z


@pytest.fixture
def umask_zero() -> Iterator[None]:
    # The file must be 0600 whatever the umask; 0 is the umask that would leak most.
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_batches_become_complete_private_jsonl_files(tmp_path: Path, umask_zero: None) -> None:
    folder = tmp_path / "out" / "acme"
    batch = numbered(5)
    destination = Directory(directory_config(tmp_path, folder, batch_size=3), clock_s=lambda: NOW_S)
    assert destination.transport == "local directory"
    destination.send(batch)

    files = sorted(folder.iterdir())
    assert [f.name for f in files] == sorted(
        f"orders-20260921T141320Z-{batch_idempotency_key(chunk)[:16]}.jsonl"
        for chunk in (batch[:3], batch[3:])
    )
    documents = []
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        lines = path.read_bytes().split(b"\n")
        assert lines[-1] == b""  # every line, the last too, ends in a newline
        documents += [json.loads(line) for line in lines[:-1]]
    assert sorted(d["ordervault"]["idempotency_key"] for d in documents) == sorted(
        o.idempotency_key for o in batch
    )
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_the_file_is_complete_and_synced_before_it_gets_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    events: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        events.append(("fsync", stat.S_ISDIR(os.fstat(descriptor).st_mode)))
        real_fsync(descriptor)

    def replace(source: Path, target: Path) -> None:
        events.append(("replace", Path(source).name))
        assert Path(source).name.startswith(".")  # hidden from *.jsonl globs until complete
        assert not Path(target).exists()
        lines = Path(source).read_bytes().splitlines()
        assert [json.loads(line)["ordervault"]["order_version"] for line in lines] == [1, 1]
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    Directory(directory_config(tmp_path, folder)).send(numbered(2))

    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert events[0][1] is False  # the file first
    assert events[2][1] is True  # then the folder, so the rename survives a power cut
    assert [p.name for p in folder.iterdir()] == [p.name for p in folder.glob("*.jsonl")]


def test_a_full_disk_is_retryable_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"

    def full(descriptor: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(TransportError) as caught:
        Directory(directory_config(tmp_path, folder)).send(numbered(1))
    assert not caught.value.permanent
    assert "OSError" in caught.value.message
    assert list(folder.iterdir()) == []


def test_a_path_that_is_a_file_is_permanent(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(TransportError) as caught:
        Directory(directory_config(tmp_path, blocker)).send(numbered(1))
    assert caught.value.permanent
    assert str(blocker) in caught.value.message

"""Seal randomness comes from per-thread, fork-safe pools: no two seals ever share bytes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest

from crypto import RecordRef
from crypto._randomness import RandomPool
from tests.fixtures.keystore import DAY, SqliteKeystore, VaultFactory

PARTS = (32, 12, 12)
PII = b'{"name":"Erika Mustermann"}'

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _counting_source() -> tuple[Callable[[int], bytes], list[int]]:
    """Distinct, predictable bytes, and a log of every read's size."""
    reads: list[int] = []

    def source(size: int) -> bytes:
        reads.append(size)
        start = sum(reads[:-1])
        return bytes((start + i) % 251 for i in range(size))

    return source, reads


def _in_child(work: Callable[[], bytes]) -> bytes:
    """Run `work` in a forked child and return the bytes it produced."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.write(write_end, work())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        produced = pipe.read()
    os.waitpid(pid, 0)
    return produced


def test_draws_are_the_sources_bytes_split_into_parts_read_in_blocks() -> None:
    source, reads = _counting_source()
    pool = RandomPool(PARTS, draws_per_read=4, source=source)
    draws = [pool.draw() for _ in range(9)]
    assert reads == [56 * 4] * 3  # 9 draws, 4 per read
    assert [len(part) for part in draws[0]] == list(PARTS)
    # In order, nothing skipped or repeated: the source's stream, cut into draws.
    expected = bytes(i % 251 for i in range(56 * 9))
    assert b"".join(b"".join(draw) for draw in draws) == expected


def test_no_two_draws_are_equal() -> None:
    pool = RandomPool(PARTS)
    draws = [b"".join(pool.draw()) for _ in range(1000)]
    assert len(set(draws)) == len(draws)


def test_a_short_read_from_the_source_is_refused() -> None:
    pool = RandomPool(PARTS, source=lambda size: bytes(size - 1))
    with pytest.raises(ValueError, match="must return"):
        pool.draw()


@pytest.mark.parametrize(("parts", "draws_per_read"), [((), 64), ((32, 0), 64), ((32,), 0)])
def test_pool_shapes_are_checked(parts: tuple[int, ...], draws_per_read: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RandomPool(parts, draws_per_read=draws_per_read)


def test_threads_draw_only_from_blocks_they_read_themselves() -> None:
    blocks_by_thread: dict[int, list[bytes]] = {}
    lock = threading.Lock()

    def source(size: int) -> bytes:
        block = os.urandom(size)
        with lock:
            blocks_by_thread.setdefault(threading.get_ident(), []).append(block)
        return block

    pool = RandomPool(PARTS, draws_per_read=8, source=source)
    start = threading.Barrier(6)
    drawn: dict[int, list[bytes]] = {}

    def work() -> None:
        start.wait()  # all threads draw at once, refilling many times
        mine = [b"".join(pool.draw()) for _ in range(500)]
        with lock:
            drawn[threading.get_ident()] = mine

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(drawn) == 6
    every_draw = [draw for draws in drawn.values() for draw in draws]
    assert len(set(every_draw)) == len(every_draw) == 6 * 500
    for ident, draws in drawn.items():
        own_blocks = b"".join(blocks_by_thread[ident])
        assert all(draw in own_blocks for draw in draws)


@needs_fork
def test_a_forked_child_never_draws_what_the_parent_pooled() -> None:
    pool = RandomPool(PARTS, draws_per_read=16, source=os.urandom)
    pool.draw()  # the parent now holds 15 pooled draws

    def child() -> bytes:
        return b"".join(b"".join(pool.draw()) for _ in range(16))

    child_bytes = _in_child(child)
    parent_rest = b"".join(b"".join(pool.draw()) for _ in range(15))
    assert len(child_bytes) == 16 * 56
    for offset in range(0, len(child_bytes), 56):
        assert child_bytes[offset : offset + 56] not in parent_rest


@needs_fork
def test_the_child_reads_its_own_block_after_a_fork() -> None:
    source, reads = _counting_source()
    pool = RandomPool(PARTS, draws_per_read=16, source=source)
    pool.draw()

    def child() -> bytes:
        before = len(reads)
        pool.draw()
        return bytes([len(reads) - before])

    assert _in_child(child) == b"\x01"  # the inherited pool was dropped: one new read
    assert len(reads) == 1  # the parent keeps using its pool


@needs_fork
def test_a_forked_worker_never_seals_with_the_parents_keys_or_nonces(
    sqlite_keystore: SqliteKeystore, make_vault: VaultFactory
) -> None:
    vault = make_vault(sqlite_keystore.keystore)
    record = RecordRef("acme", "amazon", "302-0000001-0000001", 1)
    vault.seal(record, PII, DAY)  # creates and caches the bucket, fills this thread's pool

    def nonces(count: int) -> bytes:
        sealed = [vault.seal(record, PII, DAY) for _ in range(count)]
        # PII nonce and data-key nonce of each seal.
        return b"".join(one.ciphertext[1:13] + one.wrapped_key[17:29] for one in sealed)

    in_child = _in_child(lambda: nonces(8))
    in_parent = nonces(8)
    child_nonces = {in_child[i : i + 12] for i in range(0, len(in_child), 12)}
    parent_nonces = {in_parent[i : i + 12] for i in range(0, len(in_parent), 12)}
    assert len(child_nonces) == len(parent_nonces) == 16
    assert not child_nonces & parent_nonces

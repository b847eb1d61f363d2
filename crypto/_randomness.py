"""Randomness for seals, read from the OS in blocks. Private: `PiiVault` uses it, callers don't.

Every seal draws 56 random bytes (data key and two nonces). `os.urandom` costs about 0.6 µs per
call here however few bytes it returns, as much as one AES-GCM call on an order's PII; read 64
seals' worth at once it costs about 0.17 µs per seal. The bytes are the OS's, unchanged: this is
a buffer, not a generator.

A buffer of future keys and nonces must never hand out the same bytes twice, so:

* every thread has its own pool (`threading.local`): two threads never share a block;
* a forked child drops every pool it inherited (`os.register_at_fork`), so parent and child never
  both use the bytes that were pooled at the fork. This covers `os.fork` and `multiprocessing`'s
  fork start method; `subprocess` runs no Python in the child.

The cost: up to 63 seals' worth of future randomness per thread and vault sits in process memory,
where the data keys in use already are.
"""

from __future__ import annotations

import os
import struct
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["RandomPool"]

DEFAULT_DRAWS_PER_READ = 64


class _ThreadDraws(threading.local):
    """One thread's unused draws; a thread's first access starts it with none."""

    def __init__(self) -> None:
        self.draws: Iterator[tuple[Any, ...]] = iter(())


class RandomPool:
    """`draw()` returns fresh random byte strings of `part_sizes`, e.g. (32, 12, 12) for a data
    key and two nonces; `source` is read `draws_per_read` draws at a time.

    Thread-safe and fork-safe (see the module docstring). `source(n)` must return n random bytes.
    """

    def __init__(
        self,
        part_sizes: tuple[int, ...],
        *,
        draws_per_read: int = DEFAULT_DRAWS_PER_READ,
        source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not part_sizes or min(part_sizes) < 1 or draws_per_read < 1:
            raise ValueError("part sizes and draws_per_read must be at least 1")
        # struct splits a block into parts in C: three Python slices per seal cost more.
        self._layout = struct.Struct("".join(f"{size}s" for size in part_sizes))
        self.draw_bytes = self._layout.size
        self.draws_per_read = draws_per_read
        self._source = source
        self._local = _ThreadDraws()
        _live_pools.add(self)

    def draw(self) -> tuple[bytes, ...]:
        # The hot path: one thread-local lookup and one step of a C iterator.
        try:
            return next(self._local.draws)
        except StopIteration:
            return self._refill()

    def _refill(self) -> tuple[bytes, ...]:
        read_bytes = self.draw_bytes * self.draws_per_read
        block = self._source(read_bytes)
        if len(block) != read_bytes:
            raise ValueError(f"the randomness source must return {read_bytes} bytes")
        draws = self._layout.iter_unpack(block)
        self._local.draws = draws
        return next(draws)

    def _forget_after_fork(self) -> None:
        self._local = _ThreadDraws()


_live_pools: weakref.WeakSet[RandomPool] = weakref.WeakSet()


def _forget_all_after_fork() -> None:
    for pool in list(_live_pools):
        pool._forget_after_fork()


os.register_at_fork(after_in_child=_forget_all_after_fork)

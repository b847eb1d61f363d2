"""Run the same work from several threads at once, each thread with its own connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_concurrently(work: Callable[[int], T], count: int, *, timeout_s: float = 60) -> list[T]:
    """Call work(0..count-1) from `count` threads released together; re-raise any failure."""
    barrier = threading.Barrier(count)

    def task(index: int) -> T:
        barrier.wait(timeout=timeout_s)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(task, index) for index in range(count)]
        return [future.result(timeout=timeout_s) for future in futures]

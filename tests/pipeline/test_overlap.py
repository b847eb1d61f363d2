"""`overlapped`: the next item prepared while one is written, with a pull cursor's guarantees."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pipeline.overlap import overlapped


class WriteFailed(Exception):
    pass


class PrepareFailed(Exception):
    pass


def test_results_come_in_order_and_each_write_sees_its_prepared_item() -> None:
    written: list[int] = []

    def write(item: int) -> int:
        written.append(item)
        return item * 10

    assert list(overlapped(range(7), lambda n: n + 1, write)) == [10, 20, 30, 40, 50, 60, 70]
    assert written == [1, 2, 3, 4, 5, 6, 7]


def test_the_next_item_is_prepared_while_one_is_being_written() -> None:
    writing_first = threading.Event()
    second_prepared = threading.Event()
    prepared: list[int] = []

    def prepare(n: int) -> int:
        if n == 1:
            # The first write is under way and waits for this: they run side by side.
            assert writing_first.wait(5)
            second_prepared.set()
        prepared.append(n)
        return n

    def write(n: int) -> int:
        if n == 0:
            writing_first.set()
            assert second_prepared.wait(5), "the second item was not prepared during the write"
        return n

    assert list(overlapped(range(3), prepare, write)) == [0, 1, 2]


def test_writes_run_one_at_a_time_in_one_thread() -> None:
    threads: set[int] = set()
    running = 0
    most = 0
    lock = threading.Lock()

    def write(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threads.add(threading.get_ident())
        with lock:
            running -= 1
        return n

    assert list(overlapped(range(50), lambda n: n, write)) == list(range(50))
    assert most == 1
    assert len(threads) == 1
    assert threading.get_ident() not in threads


def test_a_failed_write_stops_the_writing_after_the_results_before_it() -> None:
    written: list[int] = []

    def write(n: int) -> int:
        if n == 3:
            raise WriteFailed
        written.append(n)
        return n

    seen: list[int] = []
    with pytest.raises(WriteFailed):
        seen.extend(overlapped(range(10), lambda n: n, write))
    assert seen == [0, 1, 2]
    assert written == [0, 1, 2]  # nothing after the failed write


def test_a_failed_prepare_is_raised_after_the_write_in_flight_is_reported() -> None:
    written: list[int] = []

    def prepare(n: int) -> int:
        if n == 4:
            raise PrepareFailed
        return n

    def write(n: int) -> int:
        written.append(n)
        return n

    seen: list[int] = []
    with pytest.raises(PrepareFailed):
        seen.extend(overlapped(range(10), prepare, write))
    assert seen == written == [0, 1, 2, 3]


def test_a_failing_source_of_items_is_raised_after_what_it_gave_is_written() -> None:
    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise PrepareFailed

    seen: list[int] = []
    with pytest.raises(PrepareFailed):
        seen.extend(overlapped(items(), lambda n: n, lambda n: n))
    assert seen == [0, 1]


def test_a_caller_that_stops_early_leaves_nothing_queued_written_and_closes_the_source() -> None:
    written: list[int] = []
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.set()

    def write(n: int) -> int:
        written.append(n)
        return n

    results = overlapped(items(), lambda n: n, write)
    assert next(results) == 0
    results.close()
    assert closed.is_set()
    # The write in flight when the caller stopped (item 1) may have finished; nothing after.
    assert written in ([0], [0, 1])
    assert not [t for t in threading.enumerate() if t.name == "ordervault-writer"]


def test_the_writer_thread_ends_with_the_items() -> None:
    assert list(overlapped(range(3), lambda n: n, lambda n: n)) == [0, 1, 2]
    assert not [t for t in threading.enumerate() if t.name == "ordervault-writer"]


def test_a_stop_iteration_from_prepare_is_an_error_not_the_end_of_the_items() -> None:
    def prepare(n: int) -> int:
        if n == 2:
            raise StopIteration  # e.g. a `next()` on an empty iterator inside sealing
        return n

    seen: list[int] = []
    with pytest.raises(RuntimeError):  # PEP 479: never a silent end, which would drop items
        seen.extend(overlapped(range(5), prepare, lambda n: n))
    assert seen == [0, 1]

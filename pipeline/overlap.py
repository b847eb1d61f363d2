"""Two stages, one item apart: prepare item N+1 in this thread while item N is written.

A page of orders costs Python work (minimise, seal, blind index) and then database work whose
wait releases the GIL. Run one after the other, the CPU sits idle during the wait; here the
writes run in one thread of their own, in order, while the caller's thread prepares the next
page (or, in a pull, fetches it from the marketplace).

    for result in overlapped(pages, prepare, write):
        ...  # write(prepare(page)), for each page in order, once it has returned

Guarantees, which a pull's cursor relies on:
- writes run one at a time, in the items' order, each only after the one before returned;
- the first write that raises stops the writing: nothing after it is written, and its
  exception is raised to the caller after the results of the writes before it;
- an exception from `prepare` or from `items` itself is raised after the write in flight
  finishes and its result is yielded, and nothing after it is written;
- a caller that stops early (closes the generator) waits for the write in flight, whose result
  it does not see; nothing queued after it is written;
- `items`, if it is a generator, is closed on the way out, whatever the way.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Generic, TypeVar, cast

ItemT = TypeVar("ItemT")
PreparedT = TypeVar("PreparedT")
ResultT = TypeVar("ResultT")

_STOP = object()  # tells the writer thread to end
_END = object()  # what `next` gives for an exhausted source


class _Writer(Generic[PreparedT, ResultT]):
    """The writing thread: takes prepared items in order, hands back (ok, result or error)."""

    def __init__(self, write: Callable[[PreparedT], ResultT], name: str) -> None:
        self._write = write
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.outbox: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, prepared: PreparedT) -> None:
        self._inbox.put(prepared)

    def finish(self, *, cancel: bool) -> None:
        """Stop after the items already put (or, cancelling, after the write in flight)."""
        if cancel:
            self._cancelled.set()
        self._inbox.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            prepared = self._inbox.get()
            if prepared is _STOP or self._cancelled.is_set():
                return
            try:
                result = self._write(prepared)  # type: ignore[arg-type]
            except BaseException as exc:  # noqa: BLE001  # raised again in the caller's thread
                self.outbox.put((False, exc))
                return
            self.outbox.put((True, result))


def overlapped(
    items: Iterable[ItemT],
    prepare: Callable[[ItemT], PreparedT],
    write: Callable[[PreparedT], ResultT],
    *,
    thread_name: str = "ordervault-writer",
) -> Generator[ResultT, None, None]:
    """`write(prepare(item))` for each item, in order, the next prepared during each write."""
    writer: _Writer[PreparedT, ResultT] = _Writer(write, thread_name)
    in_flight = 0
    completed = False

    def next_result() -> ResultT:
        nonlocal in_flight
        ok, value = writer.outbox.get()
        in_flight -= 1
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]

    iterator = iter(items)
    try:
        while True:
            try:
                item = next(iterator, _END)
                if item is _END:
                    break
                prepared = prepare(cast(ItemT, item))
            except Exception:
                # Fetching or preparing failed: what was handed over is still written and
                # reported, so the caller's record of what is stored stays true; then this
                # error (or a write's, which came first).
                writer.finish(cancel=False)
                while in_flight:
                    yield next_result()
                completed = True
                raise
            writer.put(prepared)
            in_flight += 1
            # One write running and at most one waiting behind it: while the caller uses a
            # result, the writer is already on the next item.
            while in_flight > 1:
                yield next_result()
        writer.finish(cancel=False)
        while in_flight:
            yield next_result()
        completed = True
    finally:
        if not completed:
            writer.finish(cancel=True)
        close = getattr(iterator, "close", None)
        if close is not None:  # a generator of pages: let it release what it holds now
            close()

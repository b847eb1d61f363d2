"""Dramatiq's Redis broker, with a consumer that waits for an ack instead of backing off.

Dramatiq's Redis consumer polls: when its queue is empty it sleeps with an exponential backoff
(up to the worker's timeout) between fetches, which spares Redis a busy loop of requests. It
takes the same backoff when the queue is *not* empty but every prefetched message is still
being worked on: it may not fetch then, returns nothing, and each such return doubles the next
sleep. Under load that is most of the time, so a thread that finishes a message waited up to
the worker's timeout (100 ms here) for the consumer to wake up and fetch the next one: batched
forwarding over Redis ran about a third slower than over RabbitMQ, which pushes messages.

Here a consumer whose prefetch is full sleeps until a worker thread acks or nacks a message
(or the worker's timeout passes, so shutdown is still noticed), then fetches at once. An
empty queue keeps Dramatiq's backoff. Nothing else changes: the same Lua scripts, the same
message accounting, the same prefetch.
"""

from __future__ import annotations

import threading
from typing import Any

from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer


class PromptRedisConsumer(_RedisConsumer):
    """`_RedisConsumer` whose full prefetch waits for the next ack, not for a backoff."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        # Set by the worker threads (acks and nacks run there), cleared by the consumer thread.
        self._settled = threading.Event()

    def ack(self, message: MessageProxy) -> None:
        try:
            super().ack(message)  # type: ignore[no-untyped-call]
        finally:
            self._settled.set()

    def nack(self, message: MessageProxy) -> None:
        try:
            super().nack(message)  # type: ignore[no-untyped-call]
        finally:
            self._settled.set()

    def __next__(self) -> MessageProxy | None:
        if not self.message_cache and self.outstanding_message_count >= self.prefetch:
            # Nothing may be fetched until a message is settled. An ack between the check
            # above and this wait has set the event, so the wait returns at once; one between
            # the wait and the clear is seen by the next call's check.
            self._settled.wait(self.timeout / 1000)
            self._settled.clear()
            return None
        result: MessageProxy | None = super().__next__()  # type: ignore[no-untyped-call]
        return result


class PromptRedisBroker(RedisBroker):
    """`RedisBroker` whose consumers are `PromptRedisConsumer`s."""

    @property
    def consumer_class(self) -> type[Consumer]:
        return PromptRedisConsumer

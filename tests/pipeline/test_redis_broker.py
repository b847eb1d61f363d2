"""The Redis consumer: a full prefetch waits for an ack and then fetches at once (real Redis)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import dramatiq
import pytest

from pipeline.jobs.broker import make_broker
from pipeline.jobs.redis_broker import PromptRedisBroker, PromptRedisConsumer

pytestmark = pytest.mark.redis

# Long enough that Dramatiq's idle backoff could never explain a prompt fetch in these tests.
TIMEOUT_MS = 60_000


@pytest.fixture
def broker(redis_url: str) -> Iterator[PromptRedisBroker]:
    made = make_broker(redis_url)
    assert isinstance(made, PromptRedisBroker)
    made.namespace = f"ordervault-test-{uuid.uuid4().hex[:8]}"  # nothing shared with others
    try:
        yield made
    finally:
        made.flush_all()
        made.close()


def enqueue(broker: PromptRedisBroker, queue: str, count: int) -> list[str]:
    broker.declare_queue(queue)
    ids = []
    for n in range(count):
        message = dramatiq.Message(
            queue_name=queue, actor_name="noop", args=(n,), kwargs={}, options={}
        )
        ids.append(broker.enqueue(message).message_id)
    return ids


def next_message(consumer: PromptRedisConsumer) -> dramatiq.MessageProxy:
    # An empty fetch returns None after a short backoff; the queue is not empty here.
    for _ in range(100):
        message = next(consumer)
        if message is not None:
            return message
    raise AssertionError("no message fetched")


def assert_waits_until(consumer: PromptRedisConsumer, settle: Callable[[], None]) -> None:
    """With its prefetch full, `next(consumer)` waits; `settle()` (an ack or nack) ends it."""
    returned = threading.Event()
    waiter = threading.Thread(target=lambda: (next(consumer), returned.set()), daemon=True)
    waiter.start()
    # Dramatiq's own consumer returned after a 5-10 ms backoff here.
    assert not returned.wait(0.3), "the consumer did not wait with its prefetch full"
    settle()
    assert returned.wait(10), "settling a message did not wake the consumer"
    waiter.join(10)


def test_a_full_prefetch_waits_for_the_ack_then_fetches_the_next_message(
    broker: PromptRedisBroker,
) -> None:
    queue = "prompt"
    first_id, second_id = enqueue(broker, queue, 2)
    consumer = broker.consume(queue, prefetch=1, timeout=TIMEOUT_MS)
    assert isinstance(consumer, PromptRedisConsumer)
    first = next_message(consumer)
    assert first.message_id == first_id

    assert_waits_until(consumer, lambda: consumer.ack(first))

    second = next_message(consumer)
    assert second.message_id == second_id
    consumer.ack(second)
    consumer.close()


def test_a_nack_wakes_the_consumer_too(broker: PromptRedisBroker) -> None:
    queue = "prompt-nack"
    enqueue(broker, queue, 1)
    consumer = broker.consume(queue, prefetch=1, timeout=TIMEOUT_MS)
    message = next_message(consumer)
    assert_waits_until(consumer, lambda: consumer.nack(message))
    consumer.close()


def test_the_wait_ends_at_the_workers_timeout_so_shutdown_is_noticed(
    broker: PromptRedisBroker,
) -> None:
    queue = "prompt-timeout"
    enqueue(broker, queue, 1)
    consumer = broker.consume(queue, prefetch=1, timeout=50)
    message = next_message(consumer)
    # No ack: each call returns nothing once the timeout passes, instead of blocking for good.
    assert next(consumer) is None
    assert next(consumer) is None
    consumer.ack(message)
    consumer.close()

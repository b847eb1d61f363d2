"""Read what sits in the broker (queues, delay queues, dead letters) without consuming it.

For the leak scan: messages must carry ids only, and this is how that is checked. RabbitMQ
messages are fetched unacknowledged and go back to their queue when the channel closes; Redis
message bodies are read from Dramatiq's `<namespace>:<queue>.msgs` hashes. The inline broker
lives inside one process and cannot be read from outside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pika
import redis

from pipeline.jobs.actors import QUEUES

#: Dramatiq's sibling queues: delayed messages and dead letters.
_SUFFIXES = ("", ".DQ", ".XQ")
#: Enough to check what a broker holds without pulling a whole backlog into memory.
MAX_MESSAGES_PER_QUEUE = 10_000


@dataclass(frozen=True)
class QueuedMessage:
    queue: str
    message_id: str
    body: str


def queued_messages(broker_url: str) -> Iterator[QueuedMessage]:
    """Every message currently held by the broker at `broker_url`, left in place."""
    if broker_url.startswith(("amqp://", "amqps://")):
        yield from _rabbitmq(broker_url)
    elif broker_url.startswith(("redis://", "rediss://")):
        yield from _redis(broker_url)


def _rabbitmq(url: str) -> Iterator[QueuedMessage]:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        for queue in (q + suffix for q in QUEUES for suffix in _SUFFIXES):
            channel = connection.channel()
            try:
                channel.queue_declare(queue, passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                continue  # the queue was never declared: nothing in it
            for number in range(MAX_MESSAGES_PER_QUEUE):
                method, properties, body = channel.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                message_id = properties.message_id or f"#{number}"
                yield QueuedMessage(queue, message_id, body.decode("utf-8", errors="replace"))
            channel.close()  # unacknowledged messages return to the queue
    finally:
        connection.close()


def _redis(url: str) -> Iterator[QueuedMessage]:
    client = redis.Redis.from_url(url)
    try:
        for queue in (q + suffix for q in QUEUES for suffix in _SUFFIXES):
            key = f"ordervault:{queue}.msgs"  # the namespace make_broker gives RedisBroker
            for number, (message_id, body) in enumerate(client.hscan_iter(key)):
                if number >= MAX_MESSAGES_PER_QUEUE:
                    break
                yield QueuedMessage(
                    queue,
                    message_id.decode("utf-8", errors="replace"),
                    body.decode("utf-8", errors="replace"),
                )
    finally:
        client.close()

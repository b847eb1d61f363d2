"""One broker per process, chosen by `[broker] url`: RabbitMQ, Redis, or inline.

`inline` is Dramatiq's stub broker with worker threads in the same process: a command that
enqueues work also finishes it before it exits (`InlineWorker.drain`). Prefetch is set
explicitly: Dramatiq's default (twice the threads) lets one busy thread of a one-thread worker
sit on messages its siblings in other processes could take.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, ShutdownNotifications, TimeLimit

from pipeline.jobs.redis_broker import PromptRedisBroker

#: Messages each worker process holds beyond the ones it is running.
PREFETCH_PER_THREAD = 1


def _middleware() -> list[dramatiq.Middleware]:
    # Dramatiq's Retries middleware is left out on purpose: a failed delivery is retried from
    # the outbox row (with its own backoff), never by re-running a message.
    return [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines()]


def make_broker(url: str) -> dramatiq.Broker:
    """The broker for `url` ("inline", "amqp://...", "redis://..."); not yet started."""
    if url == "inline":
        return StubBroker(middleware=_middleware())
    if url.startswith(("amqp://", "amqps://")):
        # Publisher confirms: enqueue returns only once RabbitMQ holds the message.
        return RabbitmqBroker(url=url, confirm_delivery=True, middleware=_middleware())
    if url.startswith(("redis://", "rediss://")):
        # Prompt: a full prefetch waits for an ack, not for a backoff (see redis_broker).
        return PromptRedisBroker(  # type: ignore[no-untyped-call]
            url=url, middleware=_middleware(), namespace="ordervault"
        )
    raise ValueError(f"unsupported broker URL scheme: {url.split(':', 1)[0]}")


def worker(
    broker: dramatiq.Broker, *, threads: int, queues: set[str] | None = None
) -> dramatiq.Worker:
    """A worker for `broker` with prefetch set explicitly; call `.start()` and `.stop()`."""
    result = dramatiq.Worker(broker, queues=queues, worker_threads=threads, worker_timeout=100)
    result.queue_prefetch = max(1, threads * PREFETCH_PER_THREAD)
    result.delay_prefetch = max(10, threads * 100)
    return result


def is_inline(broker: dramatiq.Broker) -> bool:
    return isinstance(broker, StubBroker)

"""Prometheus metrics, opt-in: counters a scrape can read, served on the configured address only.

Label values are identifiers the operator chose (client id, destination name) or one of a
fixed set (outcome, purpose), checked on every call: a buyer's name or an order id can never
become a time series, and so never reaches the metrics store, which is outside the key hierarchy.

The counters live in this module's own registry, so a process that never calls
`start_metrics_server` pays a few dictionary updates and exposes nothing.
"""

from __future__ import annotations

import re
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, start_http_server

__all__ = [
    "DECRYPT_PURPOSES",
    "DELIVERY_OUTCOMES",
    "REGISTRY",
    "STORE_OUTCOMES",
    "MetricsServer",
    "record_bucket_keys_destroyed",
    "record_decrypt",
    "record_delivery",
    "record_order_stored",
    "start_metrics_server",
]

DEFAULT_ADDRESS = "127.0.0.1"
DELIVERY_OUTCOMES = frozenset({"delivered", "failed", "dead"})
STORE_OUTCOMES = frozenset({"created", "updated", "unchanged", "quarantined"})
# The values of `pipeline.access.Purpose` (not imported: access.py records decrypts here).
DECRYPT_PURPOSES = frozenset({"forward", "dsar_export", "incident", "support", "demo"})

# The same shape as a client id or destination name in the client files.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

REGISTRY = CollectorRegistry(auto_describe=True)

DELIVERIES = Counter(
    "ordervault_deliveries",
    "Delivery attempts by outcome.",
    ["client", "destination", "outcome"],
    registry=REGISTRY,
)
DECRYPTS = Counter(
    "ordervault_decrypts",
    "PII decrypts through the audited path, by purpose.",
    ["client", "purpose"],
    registry=REGISTRY,
)
ORDERS_STORED = Counter(
    "ordervault_orders_stored",
    "Orders stored by a pull, by outcome.",
    ["client", "outcome"],
    registry=REGISTRY,
)
BUCKET_KEYS_DESTROYED = Counter(
    "ordervault_bucket_keys_destroyed",
    "Bucket keys destroyed (crypto-shredding).",
    ["client"],
    registry=REGISTRY,
)
DECRYPT_ALARMS = Counter(
    "ordervault_decrypt_alarms",
    "Decrypt-rate alarms raised (one actor over the per-minute limit; DPP 2.6).",
    ["client"],
    registry=REGISTRY,
)


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"metric label {what} must be a configured name (got a non-name value)")
    return value


def _one_of(value: str, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"metric label {what} must be one of {', '.join(sorted(allowed))}")
    return value


def record_delivery(client_id: str, destination: str, outcome: str, count: int = 1) -> None:
    DELIVERIES.labels(
        _name(client_id, "client"),
        _name(destination, "destination"),
        _one_of(outcome, DELIVERY_OUTCOMES, "outcome"),
    ).inc(count)


def record_decrypt(client_id: str, purpose: str, count: int = 1) -> None:
    DECRYPTS.labels(_name(client_id, "client"), _one_of(purpose, DECRYPT_PURPOSES, "purpose")).inc(
        count
    )


def record_order_stored(client_id: str, outcome: str, count: int = 1) -> None:
    ORDERS_STORED.labels(
        _name(client_id, "client"), _one_of(outcome, STORE_OUTCOMES, "outcome")
    ).inc(count)


def record_bucket_keys_destroyed(client_id: str, count: int = 1) -> None:
    BUCKET_KEYS_DESTROYED.labels(_name(client_id, "client")).inc(count)


def record_decrypt_alarm(client_id: str) -> None:
    # Labelled by client only: actors name hosts and operators, which are not metric material.
    DECRYPT_ALARMS.labels(_name(client_id, "client")).inc()


class MetricsServer:
    """The running `/metrics` endpoint; `port` is the bound port (useful with port 0)."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def address(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(address: str = DEFAULT_ADDRESS, port: int = 9464) -> MetricsServer:
    """Serve the counters on http://address:port/metrics from a daemon thread.

    Bound to `address` only (default loopback): exposing it wider is the operator's explicit
    choice in `[metrics] address`.
    """
    server, thread = start_http_server(port, addr=address, registry=REGISTRY)
    return MetricsServer(server, thread)

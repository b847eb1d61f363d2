"""Reach the real services the suite runs against, or skip (or fail, in CI) with a reason.

CI sets ORDERVAULT_REQUIRE_SERVICES=1: there a test whose service is unreachable fails
instead of skipping, so a green CI always means the real services were exercised.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get(
    "ORDERVAULT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("ORDERVAULT_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("ORDERVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def services_required() -> bool:
    return os.environ.get("ORDERVAULT_REQUIRE_SERVICES") == "1"


def unavailable(service: str, reason: str) -> None:
    """Skip the calling test, or fail it when CI requires every service."""
    message = f"{service} unavailable: {reason}"
    if services_required():
        pytest.fail(message + " (ORDERVAULT_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def tcp_reachable(url: str, default_port: int, timeout_s: float = 1.0) -> str | None:
    """Return None when host:port of `url` accepts a TCP connection, else the reason."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"

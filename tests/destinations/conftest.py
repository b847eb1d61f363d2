"""Helpers shared by the destination tests: configs, outgoing orders, a running receiver."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.order import Order
from pipeline.clients import DirectoryDestination, SftpDestination, WebhookDestination
from pipeline.destinations import OutgoingOrder
from pipeline.forwarding_format import order_document
from pipeline.receiver import WebhookReceiver
from pipeline.secrets import ResolveContext
from tests.factories import make_order

SECRET = "whsec-test-0123456789"
ENVIRON = {"WEBHOOK_SECRET": SECRET}


def context(tmp_path: Path, **environ: str) -> ResolveContext:
    return ResolveContext(base_dir=tmp_path, environ={**ENVIRON, **environ})


def webhook_config(tmp_path: Path, url: str, **fields: Any) -> WebhookDestination:
    data = {"name": "erp", "type": "webhook", "url": url, "secret": "env:WEBHOOK_SECRET"}
    data.update(fields)
    return WebhookDestination.model_validate(data, context=context(tmp_path))


def directory_config(tmp_path: Path, path: Path, **fields: Any) -> DirectoryDestination:
    data = {"name": "archive", "type": "directory", "path": str(path), **fields}
    return DirectoryDestination.model_validate(data, context=context(tmp_path))


def sftp_config(tmp_path: Path, key_file: Path, **fields: Any) -> SftpDestination:
    data = {"name": "sftp-drop", "type": "sftp", "private_key": f"file:{key_file}", **fields}
    return SftpDestination.model_validate(data, context=context(tmp_path))


def key_for(order: Order, version: int = 1) -> str:
    """An idempotency key shaped like the outbox's (hex SHA-256)."""
    return hashlib.sha256(f"{order.marketplace_order_id}/{version}".encode()).hexdigest()


def outgoing(
    order: Order | None = None, *, version: int = 1, delivery_id: int = 1
) -> OutgoingOrder:
    order = order or make_order()
    key = key_for(order, version)
    document = order_document(order, order_version=version, idempotency_key=key)
    return OutgoingOrder(document=document, idempotency_key=key, delivery_ids=(delivery_id,))


def numbered(count: int) -> list[OutgoingOrder]:
    """`count` distinct orders."""
    return [
        outgoing(make_order(marketplace_order_id=f"028-0000000-{n:07d}"), delivery_id=n)
        for n in range(1, count + 1)
    ]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(tmp_path / "receiver", secret=SECRET) as running:
        yield running

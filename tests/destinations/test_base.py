"""What every destination shares: the outgoing order, the error type, the factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.destinations import (
    Directory,
    OutgoingOrder,
    Sftp,
    TransportError,
    Webhook,
    build_destination,
)
from tests.destinations.conftest import directory_config, outgoing, sftp_config, webhook_config
from tests.fixtures.sshd import _keypair, random_host_key


def test_the_repr_of_an_outgoing_order_shows_ids_not_the_document() -> None:
    order = outgoing()
    assert "Erika" not in repr(order)
    assert order.idempotency_key in repr(order)


@pytest.mark.parametrize("key", ["", "ABCDEF0123456789", "0123", "g" * 64, "ab\r\nX-Evil: 1" * 4])
def test_keys_must_be_lowercase_hex_so_they_are_safe_in_headers_and_names(key: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        OutgoingOrder(document={}, idempotency_key=key)


def test_the_key_must_match_the_one_in_the_document() -> None:
    document = outgoing().document
    with pytest.raises(ValueError, match="differs"):
        OutgoingOrder(document=document, idempotency_key="1" * 64)


def test_transport_error_defaults_to_retryable() -> None:
    error = TransportError("HTTP 503 from erp.example")
    assert (error.permanent, error.retry_after_s, str(error)) == (
        False,
        None,
        "HTTP 503 from erp.example",
    )
    assert TransportError("x", True).permanent


def test_the_factory_builds_each_type_with_its_transport(tmp_path: Path) -> None:
    key_file, _ = _keypair(tmp_path, "client")
    webhook = build_destination(webhook_config(tmp_path, "https://erp.example/orders"))
    sftp = build_destination(
        sftp_config(
            tmp_path, key_file, host="sftp.example", username="u", host_key=random_host_key()
        )
    )
    directory = build_destination(directory_config(tmp_path, tmp_path / "out"))
    assert isinstance(webhook, Webhook)
    assert isinstance(sftp, Sftp)
    assert isinstance(directory, Directory)
    assert [d.transport for d in (webhook, sftp, directory)] == [
        "https, TLS>=1.2",
        "sftp (SSH-2), pinned host key",
        "local directory",
    ]
    webhook.close()

"""No order content in errors or logs: a unique marker planted in the buyer's data must reach
the destinations and nothing else, whatever goes wrong on the way."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.order import Address, Buyer, OrderItem
from pipeline.destinations import (
    Destination,
    Directory,
    OutgoingOrder,
    Sftp,
    TransportError,
    Webhook,
)
from pipeline.destinations.ssh_keys import PinnedHostKey
from pipeline.receiver import WebhookReceiver
from tests.destinations.conftest import (
    SECRET,
    directory_config,
    outgoing,
    sftp_config,
    webhook_config,
)
from tests.factories import make_order
from tests.fixtures.sshd import SshServer, free_port, random_host_key

MARKER = f"CANARY{uuid.uuid4().hex}"


def planted() -> OutgoingOrder:
    order = make_order(
        buyer=Buyer(name=f"Erika {MARKER}", email=f"{MARKER}@example.invalid"),
        shipping_address=Address(name=MARKER, line1=f"{MARKER} 17", country_code="DE"),
        buyer_message=MARKER,
        items=(OrderItem(marketplace_item_id="1", quantity=1, gift_message=MARKER),),
    )
    return outgoing(order)


def attempt(send: Callable[[], None], errors: list[str]) -> None:
    try:
        send()
    except TransportError as exc:
        errors += [exc.message, str(exc), repr(exc)]


def assert_no_marker(caplog: pytest.LogCaptureFixture, errors: list[str]) -> None:
    assert errors  # the failures under test did happen
    for text in errors:
        assert MARKER not in text
    assert caplog.records
    for record in caplog.records:
        assert MARKER not in record.getMessage()
    assert MARKER not in caplog.text  # formatted, tracebacks included


def test_webhook_failures_never_repeat_order_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and our own debug lines included
    order = planted()
    assert MARKER not in repr(order)
    errors: list[str] = []
    with WebhookReceiver(tmp_path / "receiver", secret=SECRET) as receiver:
        good = webhook_config(tmp_path, receiver.url, insecure_loopback=True, timeout_s=0.3)
        with Webhook(good, verify=str(receiver.ca_file)) as webhook:
            webhook.send([order])  # delivered: the marker really travels
            for status in (400, 422, 500, 503):  # error pages that echo the request body
                receiver.respond_with(status, retry_after="3", echo=True, times=1)
                attempt(lambda: webhook.send([order]), errors)
            receiver.respond_with(None, delay_s=2.0, times=1)
            attempt(lambda: webhook.send([order]), errors)
        wrong = good.model_copy(update={"secret": type(good.secret)("env:X", "wrong")})
        with Webhook(wrong, verify=str(receiver.ca_file)) as webhook:
            attempt(lambda: webhook.send([order]), errors)
        with Webhook(good, verify=True) as untrusted:
            attempt(lambda: untrusted.send([order]), errors)
        batched = webhook_config(tmp_path, receiver.url, insecure_loopback=True, batch_size=5)
        receiver.respond_with(400, echo=True, times=1)
        with Webhook(batched, verify=str(receiver.ca_file)) as webhook:
            attempt(lambda: webhook.send([order]), errors)
        assert any(MARKER in str(d) for d in receiver.orders)
    guarded = webhook_config(tmp_path, "https://erp.example/orders")
    with Webhook(guarded, resolver=lambda host, port: ["10.0.0.1"]) as webhook:
        attempt(lambda: webhook.send([order]), errors)
    assert len(errors) == 3 * 9  # every failure above raised
    assert_no_marker(caplog, errors)


def test_file_destination_failures_never_repeat_order_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, sshd: SshServer
) -> None:
    caplog.set_level(logging.DEBUG)  # paramiko's transport log included
    order = planted()
    errors: list[str] = []
    folder = tmp_path / "delivered"
    Directory(directory_config(tmp_path, folder)).send([order])
    assert MARKER in next(folder.iterdir()).read_text()
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    attempt(lambda: Directory(directory_config(tmp_path, blocker)).send([order]), errors)

    remote = sshd.upload_root / "canary"
    remote.mkdir()

    def sftp(**fields: object) -> Destination:
        settings: dict[str, object] = {
            "host": sshd.host,
            "port": sshd.port,
            "username": sshd.username,
            "host_key": sshd.host_key,
            "remote_dir": str(remote),
            **fields,
        }
        return Sftp(sftp_config(tmp_path, sshd.client_key_file, **settings))

    for fmt in ("jsonl", "csv"):
        sftp(format=fmt).send([order])
    assert all(MARKER in path.read_text() for path in remote.iterdir())
    impostor = sftp()
    impostor._host_key = PinnedHostKey.parse(random_host_key())  # type: ignore[attr-defined]
    attempt(lambda: impostor.send([order]), errors)
    attempt(lambda: sftp(port=free_port()).send([order]), errors)
    attempt(lambda: sftp(remote_dir=str(remote / "missing")).send([order]), errors)
    assert len(errors) == 3 * 4  # every failure above raised
    assert_no_marker(caplog, errors)

"""The webhook destination against the local receiver, over real TLS on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import ssl
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pydantic
import pytest

from pipeline.clients import WebhookDestination
from pipeline.destinations import (
    OutgoingOrder,
    TransportError,
    Webhook,
    batch_idempotency_key,
    build_destination,
    signature_header,
)
from pipeline.receiver import WebhookReceiver
from pipeline.secrets import Secret
from tests.destinations.conftest import SECRET, numbered, outgoing, webhook_config
from tests.fixtures.sshd import free_port


def webhook(tmp_path: Path, receiver: WebhookReceiver, **fields: object) -> Webhook:
    fields.setdefault("insecure_loopback", True)
    config = webhook_config(tmp_path, receiver.url, **fields)
    return Webhook(config, verify=str(receiver.ca_file))


def send_error(destination: Webhook, batch: list[OutgoingOrder]) -> TransportError:
    with pytest.raises(TransportError) as caught:
        destination.send(batch)
    return caught.value


def test_signature_known_answer() -> None:
    # Checked with: printf '1767225600.{"hello":"world"}' | openssl dgst -sha256 -hmac whsec-test
    assert signature_header(b"whsec-test", b'{"hello":"world"}', timestamp_s=1767225600) == (
        "t=1767225600,v1=9c6c4d8c05297a58b6161ef154e04c954c8c46e60807d82336a4e80a2d87fd1c"
    )


def test_each_order_is_posted_signed_with_its_idempotency_key(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    batch = numbered(2)
    now_s = time.time()
    with Webhook(
        webhook_config(tmp_path, receiver.url, insecure_loopback=True),
        verify=str(receiver.ca_file),
        clock_s=lambda: now_s,
    ) as destination:
        destination.send(batch)

    assert receiver.stats.accepted == 2
    assert receiver.orders == [order.document for order in batch]
    for request, order in zip(receiver.requests, batch, strict=True):
        assert request.status == 200
        assert request.headers["idempotency-key"] == order.idempotency_key
        assert request.headers["content-type"].startswith("application/json")
        # Checked here independently of both the sender and the receiver.
        t, v1 = (
            part.split("=", 1)[1] for part in request.headers["ordervault-signature"].split(",")
        )
        assert t == str(int(now_s))
        expected = hmac.new(SECRET.encode(), f"{t}.".encode() + request.body, hashlib.sha256)
        assert v1 == expected.hexdigest()
        assert json.loads(request.body) == order.document


def test_one_connection_is_kept_alive_across_sends(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    with webhook(tmp_path, receiver) as destination:
        for order in numbered(3):
            destination.send([order])
    assert receiver.stats.accepted == 3
    assert receiver.stats.connections == 1


def test_a_repeated_order_is_accepted_once(tmp_path: Path, receiver: WebhookReceiver) -> None:
    order = outgoing()
    with webhook(tmp_path, receiver) as destination:
        destination.send([order])
        destination.send([order])
    assert (receiver.stats.accepted, receiver.stats.duplicates) == (1, 1)


def test_wrong_secret_is_rejected_by_the_receiver_and_permanent(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    config = webhook_config(tmp_path, receiver.url, insecure_loopback=True)
    wrong = config.model_copy(update={"secret": Secret("env:OTHER", "not-the-secret")})
    with Webhook(wrong, verify=str(receiver.ca_file)) as destination:
        error = send_error(destination, [outgoing()])
    assert error.permanent
    assert "HTTP 401" in error.message
    assert (receiver.stats.rejected, receiver.stats.accepted) == (1, 0)


def test_a_stale_signature_is_rejected(tmp_path: Path, receiver: WebhookReceiver) -> None:
    config = webhook_config(tmp_path, receiver.url, insecure_loopback=True)
    hour_ago = time.time() - 3600
    with Webhook(config, verify=str(receiver.ca_file), clock_s=lambda: hour_ago) as destination:
        error = send_error(destination, [outgoing()])
    assert "HTTP 401" in error.message
    assert receiver.stats.rejected == 1


def test_503_with_retry_after_seconds_is_retryable_and_the_retry_delivers(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    receiver.respond_with(503, retry_after="7", times=1)
    with webhook(tmp_path, receiver) as destination:
        error = send_error(destination, [outgoing()])
        assert not error.permanent
        assert error.retry_after_s == 7.0
        assert "HTTP 503" in error.message
        destination.send([outgoing()])
    assert receiver.stats.accepted == 1


def test_retry_after_as_http_date_is_relative_to_the_injected_clock(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    now_s = 1_800_000_000.0
    later = datetime.fromtimestamp(now_s + 120, UTC)
    receiver.respond_with(429, retry_after=format_datetime(later, usegmt=True), times=1)
    config = webhook_config(tmp_path, receiver.url, insecure_loopback=True)
    with Webhook(config, verify=str(receiver.ca_file), clock_s=lambda: now_s) as destination:
        error = send_error(destination, [outgoing()])
    assert not error.permanent
    assert error.retry_after_s == 120.0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(tmp_path: Path, receiver: WebhookReceiver, status: int) -> None:
    receiver.respond_with(status)
    with webhook(tmp_path, receiver) as destination:
        error = send_error(destination, [outgoing()])
    assert not error.permanent
    assert error.retry_after_s is None
    assert f"HTTP {status}" in error.message


@pytest.mark.parametrize("status", [301, 400, 403, 404, 410, 413, 422])
def test_other_statuses_are_permanent(
    tmp_path: Path, receiver: WebhookReceiver, status: int
) -> None:
    receiver.respond_with(status, retry_after="5")
    with webhook(tmp_path, receiver) as destination:
        error = send_error(destination, [outgoing()])
    assert error.permanent
    assert f"HTTP {status}" in error.message


def test_a_slow_receiver_times_out_retryably(tmp_path: Path, receiver: WebhookReceiver) -> None:
    receiver.respond_with(None, delay_s=5.0, times=1)
    started = time.monotonic()
    with webhook(tmp_path, receiver, timeout_s=0.3) as destination:
        error = send_error(destination, [outgoing()])
    assert time.monotonic() - started < 3.0
    assert not error.permanent
    assert "within 0.3 s" in error.message


def test_proxies_from_the_environment_are_not_used(
    tmp_path: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would connect on our behalf, to wherever it resolves the name: past the guard.
    nowhere = f"http://127.0.0.1:{free_port()}"
    for variable in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, nowhere)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with webhook(tmp_path, receiver) as destination:
        destination.send([outgoing()])
    assert receiver.stats.accepted == 1


def test_a_delivery_is_logged_at_debug_only_and_a_failure_warns(
    tmp_path: Path, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    # The outbox records each delivery; an INFO line per POST cost a tenth of its CPU.
    caplog.set_level(logging.DEBUG)
    with webhook(tmp_path, receiver) as destination:
        destination.send([outgoing()])
        receiver.respond_with(503, times=1)
        send_error(destination, [outgoing()])
    levels = [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if r.name in ("pipeline.destinations.webhook", "httpx")
    ]
    assert levels == [
        (logging.DEBUG, "webhook erp: 1 order(s) delivered to 127.0.0.1 (HTTP 200)"),
        (logging.WARNING, "webhook erp: HTTP 503 from 127.0.0.1"),
    ]


def test_a_closed_port_is_retryable(tmp_path: Path) -> None:
    port = free_port()
    config = webhook_config(tmp_path, f"https://127.0.0.1:{port}/", insecure_loopback=True)
    with Webhook(config) as destination:
        error = send_error(destination, [outgoing()])
    assert not error.permanent
    assert f"cannot connect to 127.0.0.1:{port}" in error.message


# -- batch mode ----------------------------------------------------------------------------


def test_batch_mode_posts_orders_arrays_with_a_batch_key_and_per_order_keys(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    batch = numbered(5)
    with webhook(tmp_path, receiver, batch_size=3) as destination:
        destination.send(batch)
        # Regrouped on a retry: every order is a repeat, whatever batch it comes in.
        destination.send(list(reversed(batch)))

    first, second, *_ = receiver.requests
    assert [len(json.loads(r.body)["orders"]) for r in (first, second)] == [3, 2]
    assert json.loads(first.body) == {"orders": [order.document for order in batch[:3]]}
    assert first.headers["idempotency-key"] == batch_idempotency_key(batch[:3])
    assert second.headers["idempotency-key"] == batch_idempotency_key(batch[3:])
    for document, order in zip(json.loads(first.body)["orders"], batch, strict=False):
        assert document["ordervault"]["idempotency_key"] == order.idempotency_key
    assert (receiver.stats.accepted, receiver.stats.duplicates) == (5, 5)


def test_batch_key_ignores_order_and_differs_from_the_single_key() -> None:
    one, two = numbered(2)
    assert batch_idempotency_key([one, two]) == batch_idempotency_key([two, one])
    assert batch_idempotency_key([one]) != one.idempotency_key
    assert batch_idempotency_key([one]) != batch_idempotency_key([one, two])


# -- TLS -----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_the_client_context_floor_is_tls_1_2(tmp_path: Path, receiver: WebhookReceiver) -> None:
    from pipeline.destinations.tls import client_context

    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    permissive.minimum_version = ssl.TLSVersion.TLSv1
    assert client_context(permissive).minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_context(True).minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_context(str(receiver.ca_file)).minimum_version == ssl.TLSVersion.TLSv1_2
    assert webhook(tmp_path, receiver).transport == "https, TLS>=1.2"


def _old_tls_handshake(receiver: WebhookReceiver) -> str | None:
    """The protocol a TLS-1.0-willing client gets from `receiver`, or None if none works."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.minimum_version = ssl.TLSVersion.TLSv1
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    client.load_verify_locations(receiver.ca_file)
    try:
        with (
            socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return tls.version()
    except (ssl.SSLError, OSError):
        return None


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_a_tls_1_1_only_server_is_refused(tmp_path: Path) -> None:
    with WebhookReceiver(
        tmp_path / "old", secret=SECRET, tls_maximum_version=ssl.TLSVersion.TLSv1_1
    ) as old:
        if _old_tls_handshake(old) != "TLSv1.1":
            pytest.skip("this OpenSSL build cannot speak TLS 1.1 even when asked to")
        with webhook(tmp_path, old) as destination:
            error = send_error(destination, [outgoing()])
        assert "TLS" in error.message
        assert not error.permanent
        assert old.stats.requests == 0


def test_a_tls_1_2_only_server_is_accepted(tmp_path: Path) -> None:
    with WebhookReceiver(
        tmp_path / "tls12", secret=SECRET, tls_maximum_version=ssl.TLSVersion.TLSv1_2
    ) as receiver:
        with webhook(tmp_path, receiver) as destination:
            destination.send([outgoing()])
        assert receiver.stats.accepted == 1


def test_an_untrusted_certificate_is_refused(tmp_path: Path, receiver: WebhookReceiver) -> None:
    config = webhook_config(tmp_path, receiver.url, insecure_loopback=True)
    with Webhook(config, verify=True) as destination:  # system CAs do not know the local CA
        error = send_error(destination, [outgoing()])
    assert "SSLCertVerificationError" in error.message
    assert receiver.stats.accepted == 0


def test_certificate_verification_may_be_off_only_for_loopback(tmp_path: Path) -> None:
    config = webhook_config(tmp_path, "https://erp.example/orders")
    with pytest.raises(ValueError, match="only for loopback"):
        Webhook(config, verify=False)


def test_client_certificate_is_presented(tmp_path: Path) -> None:
    with WebhookReceiver(
        tmp_path / "mtls", secret=SECRET, require_client_certificate=True
    ) as receiver:
        cert_file, key_file = receiver.issue_client_certificate()
        with_cert = webhook_config(
            tmp_path,
            receiver.url,
            insecure_loopback=True,
            client_cert=str(cert_file),
            client_key=f"file:{key_file}",
        )
        with Webhook(with_cert, verify=str(receiver.ca_file)) as destination:
            assert destination.transport == "https, TLS>=1.2, client certificate"
            destination.send([outgoing()])
        assert receiver.stats.accepted == 1

        with webhook(tmp_path, receiver) as without:
            error = send_error(without, [outgoing()])
        assert not error.permanent
        assert receiver.stats.accepted == 1


def test_a_client_key_that_does_not_fit_the_certificate_fails_at_construction(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    cert_file, _ = receiver.issue_client_certificate("one")
    _, other_key = receiver.issue_client_certificate("two")
    config = webhook_config(
        tmp_path,
        receiver.url,
        insecure_loopback=True,
        client_cert=str(cert_file),
        client_key=f"file:{other_key}",
    )
    with pytest.raises(ValueError, match="KEY_VALUES_MISMATCH"):
        Webhook(config, verify=str(receiver.ca_file))


# -- plain http ----------------------------------------------------------------------------


@pytest.mark.parametrize("insecure_loopback", [False, True])
def test_plain_http_to_a_remote_host_is_refused_by_the_config(
    tmp_path: Path, insecure_loopback: bool
) -> None:
    with pytest.raises(pydantic.ValidationError, match="plain http"):
        webhook_config(tmp_path, "http://erp.example/orders", insecure_loopback=insecure_loopback)


def test_plain_http_to_a_remote_host_is_refused_at_construction(tmp_path: Path) -> None:
    # A config built without validation must not slip past the destination either.
    sound = webhook_config(tmp_path, "https://erp.example/orders")
    forged = WebhookDestination.model_construct(
        **{**dict(sound), "url": "http://erp.example/orders", "insecure_loopback": True}
    )
    with pytest.raises(ValueError, match="plain http"):
        Webhook(forged)


def test_plain_http_to_loopback_needs_insecure_loopback_and_then_works(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError):
        webhook_config(tmp_path, "http://127.0.0.1:9/orders")
    with WebhookReceiver(tmp_path / "plain", secret=SECRET, tls=False) as receiver:
        config = webhook_config(tmp_path, receiver.url, insecure_loopback=True)
        with build_destination(config) as destination:
            assert destination.transport == "http (loopback only, unencrypted)"
            destination.send([outgoing()])
        assert receiver.stats.accepted == 1

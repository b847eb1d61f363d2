"""The local webhook receiver the demo and the tests rely on."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from pipeline.destinations import signature_header
from pipeline.receiver import WebhookReceiver, verify_signature

SECRET = b"whsec"
NOW_S = 1_790_000_000


@pytest.mark.parametrize(
    ("header", "now_s", "valid"),
    [
        (signature_header(SECRET, b"{}", timestamp_s=NOW_S), NOW_S, True),
        (signature_header(SECRET, b"{}", timestamp_s=NOW_S), NOW_S + 300, True),
        (signature_header(SECRET, b"{}", timestamp_s=NOW_S), NOW_S + 301, False),
        (signature_header(SECRET, b"{}", timestamp_s=NOW_S), NOW_S - 301, False),
        (signature_header(b"other", b"{}", timestamp_s=NOW_S), NOW_S, False),
        # During a secret rotation a sender may sign with both; either may match.
        (
            signature_header(b"other", b"{}", timestamp_s=NOW_S)
            + ",v1="
            + signature_header(SECRET, b"{}", timestamp_s=NOW_S).split("v1=")[1],
            NOW_S,
            True,
        ),
        (f"v1={signature_header(SECRET, b'{}', timestamp_s=NOW_S).split('v1=')[1]}", NOW_S, False),
        ("t=abc,v1=00", NOW_S, False),
        ("", NOW_S, False),
        (None, NOW_S, False),
    ],
)
def test_verify_signature(header: str | None, now_s: float, valid: bool) -> None:
    assert verify_signature(SECRET, header, b"{}", now_s=now_s, max_skew_s=300) is valid


def _trusting(receiver: WebhookReceiver) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=receiver.ca_file)


def _post(receiver: WebhookReceiver, body: bytes, path: str = "/orders") -> int:
    headers = {"Ordervault-Signature": signature_header(SECRET, body, timestamp_s=int(time.time()))}
    url = receiver.url.replace("/orders", path)
    with httpx.Client(verify=_trusting(receiver)) as client:
        return client.post(url, content=body, headers=headers).status_code


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"orders": []}', b'{"orders": [{"ordervault": {}}]}', b"{}"],
)
def test_malformed_bodies_are_rejected(tmp_path: Path, body: bytes) -> None:
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        assert _post(receiver, body) == 400
        assert receiver.stats.rejected == 1
        assert receiver.orders == []


def test_a_body_cut_off_by_a_vanishing_sender_is_not_a_rejected_request(tmp_path: Path) -> None:
    # A worker SIGKILLed mid-POST: headers and part of the body arrive, then the connection
    # closes. There is no request to judge; counting it as rejected would say a sender signed
    # badly or sent a malformed body.
    body = b'{"ordervault": {"idempotency_key": "k1"}}'
    signature = signature_header(SECRET, body, timestamp_s=int(time.time()))
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        host, port = receiver.url.split("//")[1].split("/")[0].rsplit(":", 1)
        raw = socket.create_connection((host, int(port)))
        with _trusting(receiver).wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(
                b"POST /orders HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n"
                b"Ordervault-Signature: %s\r\n\r\n"
                % (host.encode(), len(body), signature.encode())
                + body[:10]
            )
        assert _post(receiver, body) == 200  # the receiver goes on serving
        assert (receiver.stats.rejected, receiver.stats.requests, receiver.stats.accepted) == (
            0,
            1,
            1,
        )


def test_wrong_path_is_404_and_the_key_file_is_private(tmp_path: Path) -> None:
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        assert _post(receiver, b"{}", path="/elsewhere") == 404
    assert stat.S_IMODE((tmp_path / "server.key").stat().st_mode) == 0o600


def test_forced_answers_run_out_after_n_requests(tmp_path: Path) -> None:
    body = b'{"ordervault": {"idempotency_key": "k1"}}'
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        receiver.respond_with(503, times=2)
        assert [_post(receiver, body) for _ in range(3)] == [503, 503, 200]
        receiver.respond_with(400)
        assert [_post(receiver, body) for _ in range(2)] == [400, 400]
        receiver.reset_responses()
        assert _post(receiver, body) == 200
        assert (receiver.stats.forced, receiver.stats.accepted, receiver.stats.duplicates) == (
            4,
            1,
            1,
        )


def test_stop_is_prompt_with_an_idle_keep_alive_connection_and_a_slow_request(
    tmp_path: Path,
) -> None:
    receiver = WebhookReceiver(tmp_path, secret=SECRET).start()
    idle = httpx.Client(verify=_trusting(receiver))
    idle.post(receiver.url, content=b"{}")  # leaves a keep-alive connection open
    receiver.respond_with(None, delay_s=30.0)
    outcome: list[object] = []

    def slow() -> None:
        with httpx.Client(verify=_trusting(receiver), timeout=10) as client:
            try:
                outcome.append(client.post(receiver.url, content=b"{}").status_code)
            except httpx.HTTPError as exc:
                outcome.append(type(exc))

    waiting = threading.Thread(target=slow)
    waiting.start()
    while receiver.stats.requests < 2:  # the slow request is being held
        time.sleep(0.01)
    started = time.monotonic()
    receiver.stop()
    waiting.join(timeout=5)
    assert time.monotonic() - started < 2.0
    assert outcome  # the held request was let go, not left hanging
    idle.close()

"""The local webhook receiver the demo and the tests rely on."""

from __future__ import annotations

import re
import socket
import ssl
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from pipeline.destinations import signature_header
from pipeline.receiver import MAX_BODY_BYTES, WebhookReceiver, verify_signature

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


# -- the request head, parsed without email.parser ----------------------------------------


def _exchange(receiver: WebhookReceiver, data: bytes) -> bytes:
    """Send raw bytes over TLS and read until the receiver closes the connection."""
    raw = socket.create_connection(("127.0.0.1", receiver.port), timeout=5)
    with _trusting(receiver).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(data)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    return answer


def _signed_request(body: bytes, *extra: bytes) -> bytes:
    signature = signature_header(SECRET, body, timestamp_s=int(time.time())).encode()
    head = [
        b"POST /orders HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Content-Length: %d" % len(body),
        b"ordervault-SIGNATURE:   " + signature + b"  ",  # names ignore case, values spaces
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _statuses(answer: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def test_requests_on_one_connection_are_kept_alive_until_connection_close(
    tmp_path: Path,
) -> None:
    one = b'{"ordervault": {"idempotency_key": "k1"}}'
    two = b'{"ordervault": {"idempotency_key": "k2"}}'
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        answer = _exchange(
            receiver, _signed_request(one) + _signed_request(two, b"Connection: close")
        )
        assert _statuses(answer) == [200, 200]
        assert answer.count(b"Connection: close") == 1
        assert answer.count(b"Date: ") == 2
        assert (receiver.stats.accepted, receiver.stats.connections) == (2, 1)
        assert receiver.requests[0].headers["host"] == "127.0.0.1"


def test_expect_100_continue_is_answered_before_the_body(tmp_path: Path) -> None:
    body = b'{"ordervault": {"idempotency_key": "k1"}}'
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        answer = _exchange(
            receiver, _signed_request(body, b"Expect: 100-continue", b"Connection: close")
        )
        assert _statuses(answer) == [100, 200]
        assert receiver.stats.accepted == 1


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        (b" folded: onto the previous line", 400),
        (b"no colon here", 400),
        (b"Bad Name: x", 400),
        (b"Content-Length: 5", 400),  # a second, different length: where would the body end?
        (b"Transfer-Encoding: chunked", 400),  # a body this receiver cannot frame
        (b"X-Long: " + b"a" * 70_000, 431),
        (b"\r\n".join(b"X-%d: y" % n for n in range(101)), 431),
    ],
)
def test_a_malformed_head_is_refused_and_the_connection_closed(
    tmp_path: Path, extra: bytes, status: int
) -> None:
    body = b'{"ordervault": {"idempotency_key": "k1"}}'
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        # A second request after the bad one is never read: the connection closes.
        answer = _exchange(receiver, _signed_request(body, extra) + _signed_request(body))
        assert _statuses(answer) == [status]
        assert receiver.stats.accepted == 0


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"POST /orders HTTP/2.0", 505),
        (b"POST /orders FTP/1.1", 400),
        (b"POST /orders", 400),
        (b"POST /orders HTTP/1.1 extra", 400),
    ],
)
def test_a_bad_request_line_is_refused(tmp_path: Path, request_line: bytes, status: int) -> None:
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        answer = _exchange(receiver, request_line + b"\r\nContent-Length: 0\r\n\r\n")
        assert _statuses(answer) == [status]
        assert receiver.stats.requests == 0


def test_a_body_over_the_limit_is_413_without_being_read(tmp_path: Path) -> None:
    head = b"POST /orders HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1)
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        assert _statuses(_exchange(receiver, head)) == [413]
        assert receiver.stats.accepted == 0


def test_http_1_0_closes_unless_asked_to_keep_alive(tmp_path: Path) -> None:
    body = b'{"ordervault": {"idempotency_key": "k1"}}'
    with WebhookReceiver(tmp_path, secret=SECRET) as receiver:
        old = _signed_request(body).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        assert _statuses(_exchange(receiver, old + old)) == [200]
        kept = _signed_request(body, b"Connection: keep-alive").replace(b"HTTP/1.1", b"HTTP/1.0")
        assert _statuses(_exchange(receiver, kept + old)) == [200, 200]


def test_a_receiver_that_keeps_no_documents_still_drops_repeats(tmp_path: Path) -> None:
    one = b'{"ordervault": {"idempotency_key": "k1"}}'
    two = (
        b'{"orders": [{"ordervault": {"idempotency_key": "k1"}},'
        b' {"ordervault": {"idempotency_key": "k2"}}]}'
    )
    with WebhookReceiver(tmp_path, secret=SECRET, keep_documents=False) as receiver:
        assert _post(receiver, one) == 200
        assert _post(receiver, two) == 200
        stats = receiver.stats
        assert (stats.requests, stats.accepted, stats.duplicates) == (2, 2, 1)
        assert receiver.orders == []
        assert receiver.requests == []

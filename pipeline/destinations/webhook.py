"""HTTPS webhook: POST each order (or `{"orders": [...]}` in batch mode), signed, idempotent.

Headers (DESIGN.md, fixed): `Idempotency-Key` and
`Ordervault-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`.
One order per POST: the key is the order's own. Batch mode (`batch_size` > 1, body
`{"orders": [...]}` even for one order): the key is `batch_idempotency_key` of the batch, and
each order still carries its own key in `ordervault.idempotency_key`, so a receiver can drop
repeats per order when a retried batch is regrouped.

2xx is delivered. 408, 429, 5xx, timeouts and connection failures are retryable (with the
server's Retry-After); every other status is permanent. Redirects are not followed: the
target of a redirect would escape the address guard.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from pipeline.clients import WebhookDestination, check_endpoint
from pipeline.destinations.backoff import parse_retry_after
from pipeline.destinations.base import (
    Destination,
    OutgoingOrder,
    TransportError,
    batch_idempotency_key,
    chunks,
)
from pipeline.destinations.files import encode_json
from pipeline.destinations.guard import (
    AddressPolicy,
    IPAddress,
    Resolver,
    checked_addresses,
    system_resolver,
)
from pipeline.destinations.tls import client_context

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429})
_SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
# Enough for any acknowledgement; a bigger answer is cut off instead of held in memory.
_MAX_RESPONSE_BYTES = 64 * 1024
_MAX_ADDRESS_URLS = 64


def signature_header(secret: bytes, body: bytes, *, timestamp_s: int) -> str:
    """The `Ordervault-Signature` value for `body` sent at `timestamp_s`."""
    mac = hmac.new(secret, f"{timestamp_s}.".encode("ascii") + body, hashlib.sha256)
    return f"t={timestamp_s},v1={mac.hexdigest()}"


def _tls_reason(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return f"TLS {type(seen).__name__}" + (f" {seen.reason}" if seen.reason else "")
        seen = seen.__cause__ or seen.__context__
    return None


class Webhook(Destination):
    """One webhook destination; one keep-alive `httpx.HTTPTransport` for its lifetime.

    Requests go straight to the transport, not through an `httpx.Client`: the client's extras
    are all unwanted here (redirects are never followed, proxies from the environment would
    connect past the guard, cookies a receiver sets have no business in the next POST, no
    auth, no hooks), and its per-request work (URL merging, header merging, auth and redirect
    generators, an INFO log line per request) was about a third of the sender's CPU per order.
    The transport opens connections itself, with no proxy.
    """

    def __init__(
        self,
        config: WebhookDestination,
        *,
        verify: ssl.SSLContext | str | bool = True,
        resolver: Resolver = system_resolver,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        # The config model already checked the URL; checking again keeps a hand-built or
        # `model_construct`ed config from slipping plain http past us.
        check_endpoint(config.url, allow_http_loopback=config.insecure_loopback)
        self.name = config.name
        self.batch_size = config.batch_size
        self._url = httpx.URL(config.url)
        parts = urlsplit(config.url)
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._policy = AddressPolicy(
            allow_private_network=config.allow_private_network,
            allow_loopback=config.insecure_loopback,
        )
        self._resolver = resolver
        self._clock_s = clock_s
        self._secret = config.secret.reveal().encode()
        self._timeout_s = config.timeout_s
        # An address typed into the URL is judged once, now: there is no name to resolve, so
        # nothing a DNS answer could rebind, and the verdict depends only on the address and
        # the (frozen) policy. A name stays None here and is resolved and checked per request.
        self._literal_addresses: list[IPAddress] | None = None
        try:
            self._literal_addresses = checked_addresses(
                self._host, self._port, resolver=_no_dns, policy=self._policy
            )
        except TransportError as exc:
            if exc.permanent:
                raise ValueError(exc.message) from None
        self._address_urls: dict[IPAddress, httpx.URL] = {}
        # Host keeps the name (SNI too, below), so the certificate is verified against it
        # while the connection goes to a checked address.
        self._fixed_headers = (
            (b"Host", self._url.netloc),
            (b"User-Agent", b"ordervault-webhook/1"),
            (b"Content-Type", b"application/json; charset=utf-8"),
        )
        self._extensions = {
            "timeout": httpx.Timeout(config.timeout_s).as_dict(),
            "sni_hostname": self._host,
        }
        if parts.scheme == "https":
            if verify is False and not config.insecure_loopback:
                raise ValueError("certificate verification may be off only for loopback")
            key = config.client_key.reveal() if config.client_key else None
            context = client_context(verify, client_cert=config.client_cert, client_key_pem=key)
            with_cert = ", client certificate" if config.client_cert else ""
            self.transport = f"https, TLS>=1.2{with_cert}"
        else:
            context = client_context(True)
            self.transport = "http (loopback only, unencrypted)"
        # No Nagle: a request goes out as headers then body, and on a kept-alive connection
        # the body would otherwise wait for the server's delayed ACK.
        self._http = httpx.HTTPTransport(verify=context, socket_options=_SOCKET_OPTIONS)

    def send(self, batch: Sequence[OutgoingOrder]) -> None:
        if self.batch_size == 1:
            for order in batch:
                self._post(order.document, order.idempotency_key, count=1)
            return
        for chunk in chunks(batch, self.batch_size):
            payload = {"orders": [order.document for order in chunk]}
            self._post(payload, batch_idempotency_key(chunk), count=len(chunk))

    def close(self) -> None:
        self._http.close()

    def _post(self, payload: Mapping[str, Any], idempotency_key: str, *, count: int) -> None:
        body = encode_json(payload)
        signature = signature_header(self._secret, body, timestamp_s=int(self._clock_s()))
        headers = [
            *self._fixed_headers,
            (b"Content-Length", b"%d" % len(body)),
            (b"Idempotency-Key", idempotency_key.encode("ascii")),
            (b"Ordervault-Signature", signature.encode("ascii")),
        ]
        try:
            addresses = self._literal_addresses or checked_addresses(
                self._host, self._port, resolver=self._resolver, policy=self._policy
            )
            status, retry_after = self._post_to_first(addresses, body, headers)
            self._judge(status, retry_after)
        except TransportError as exc:
            error = TransportError(f"webhook {self.name}: {exc.message}", *_flags(exc))
            log.warning("%s", error.message)
            raise error from None
        # DEBUG, not INFO: the outbox records every delivery, and through the redacting
        # handlers an INFO line cost about 0.06 ms of CPU, a tenth of the whole POST.
        log.debug(
            "webhook %s: %d order(s) delivered to %s (HTTP %d)",
            self.name,
            count,
            self._host,
            status,
        )

    def _address_url(self, address: IPAddress) -> httpx.URL:
        """The URL with `address` for host; parsed once per address, not per request."""
        url = self._address_urls.get(address)
        if url is None:
            if len(self._address_urls) >= _MAX_ADDRESS_URLS:  # a name with ever-new addresses
                self._address_urls.clear()
            url = self._address_urls[address] = self._url.copy_with(host=str(address))
        return url

    def _post_to_first(
        self, addresses: Sequence[IPAddress], body: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, str | None]:
        """POST to the first address that accepts a connection; (status, Retry-After)."""
        for index, address in enumerate(addresses):
            request = httpx.Request(
                "POST",
                self._address_url(address),
                headers=headers,
                stream=httpx.ByteStream(body),  # sent as given: no headers added
                extensions=self._extensions,
            )
            try:
                response = self._http.handle_request(request)
                try:
                    received = 0
                    for chunk in response.iter_raw():
                        received += len(chunk)
                        if received > _MAX_RESPONSE_BYTES:
                            break
                finally:
                    response.close()
                status = response.status_code
                if 200 <= status < 300:
                    return status, None
                return status, response.headers.get("Retry-After")
            except httpx.ConnectError as exc:
                reason = _tls_reason(exc)
                if reason:  # another address would present the same certificate
                    raise TransportError(f"{reason} with {self._host}:{self._port}") from None
                if index == len(addresses) - 1:
                    raise TransportError(
                        f"cannot connect to {self._host}:{self._port} ({type(exc).__name__})"
                    ) from None
            except httpx.TimeoutException as exc:
                raise TransportError(
                    f"no answer from {self._host} within {self._timeout_s:g} s "
                    f"({type(exc).__name__})"
                ) from None
            except httpx.HTTPError as exc:
                reason = _tls_reason(exc) or type(exc).__name__
                raise TransportError(f"request to {self._host} failed ({reason})") from None
        raise AssertionError("checked_addresses never returns an empty list")

    def _judge(self, status: int, retry_after: str | None) -> None:
        if 200 <= status < 300:
            return
        message = f"HTTP {status} from {self._host}"
        if status in RETRYABLE_STATUSES or status >= 500:
            retry_after_s = parse_retry_after(retry_after, now_s=self._clock_s())
            raise TransportError(message, retry_after_s=retry_after_s)
        if 300 <= status < 400:
            message += " (redirects are not followed; configure the final URL)"
        raise TransportError(message, permanent=True)


def _flags(exc: TransportError) -> tuple[bool, float | None]:
    return exc.permanent, exc.retry_after_s


def _no_dns(host: str, port: int) -> list[str]:
    # Stands in for the resolver at construction: a name is judged at send time instead.
    raise OSError("not resolved at construction")

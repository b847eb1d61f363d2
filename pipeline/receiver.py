"""A local HTTPS webhook receiver, for the demo and the tests: what a client's endpoint does.

It serves on a loopback port with a certificate from a CA it makes for the occasion (files in
the folder it is given: `ca.pem` to trust, `server.pem`, `server.key` mode 0600), checks the
`Ordervault-Signature` of every POST (401 if wrong or older than the allowed clock skew), and
keeps each accepted order once per idempotency key, as a real receiver should. It can be told
to misbehave (answer 503 with Retry-After, 400, or answer slowly) for the next N requests.

    with WebhookReceiver(folder, secret="s3cret") as receiver:
        ...  # POST to receiver.url, trusting receiver.ca_file
        receiver.stats.accepted

Bodies are kept in memory only and never logged.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import os
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
_REASONS = {status.value: status.phrase for status in HTTPStatus}
_IDLE_TIMEOUT_S = 5.0
# Stands for a document not kept (`keep_documents=False`): its key is what idempotency needs.
_NOT_KEPT: dict[str, Any] = {}
# http.server's own limits on a request's head.
_MAX_LINE_BYTES = 65536
_MAX_HEADERS = 100
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 5.6.2)


# -- certificates --------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class LocalCa:
    """A throwaway certificate authority. Issuing from a CA rather than self-signing the server
    certificate keeps strict verifiers (VERIFY_X509_STRICT, newer Pythons) happy."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, now: datetime) -> LocalCa:
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("ordervault local receiver CA"))
            .issuer_name(_name("ordervault local receiver CA"))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    def issue(
        self, common_name: str, *, server: bool, now: datetime
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A leaf certificate: for localhost/127.0.0.1/::1 if `server`, else a client one."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if server:
            names: list[x509.GeneralName] = [
                x509.DNSName("localhost"),
                x509.IPAddress(ip_address("127.0.0.1")),
                x509.IPAddress(ip_address("::1")),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


# -- signatures ----------------------------------------------------------------------------


def verify_signature(
    secret: bytes, header: str | None, body: bytes, *, now_s: float, max_skew_s: float
) -> bool:
    """Check `Ordervault-Signature: t=<s>,v1=<hex>` (any of several v1 values may match)."""
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs(now_s - timestamp) > max_skew_s:
        return False
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# -- the server ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiverStats:
    """Counts since start. `received` counts orders in correctly signed requests."""

    requests: int = 0
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0  # requests refused: bad signature (401) or malformed body (400)
    forced: int = 0  # requests answered by `respond_with` instead of being processed
    connections: int = 0  # TLS connections established (keep-alive reuses one)
    handshake_failures: int = 0


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: bytes = field(repr=False)
    status: int


@dataclass
class _Override:
    status: int | None
    retry_after: str | None
    delay_s: float
    echo: bool
    remaining: int | None


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


class WebhookReceiver:
    """Serve a webhook endpoint on `host` in a background thread; see the module docstring."""

    def __init__(
        self,
        folder: Path,
        *,
        secret: str | bytes,
        path: str = "/orders",
        max_skew_s: float = 300.0,
        clock_s: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        tls_maximum_version: ssl.TLSVersion | None = None,
        require_client_certificate: bool = False,
        keep_documents: bool = True,
    ) -> None:
        """`keep_documents=False`: remember each accepted idempotency key but not its document
        or its request, so a long run (a benchmark) neither grows by every body it is sent nor
        makes the garbage collector walk them; `orders` and `requests` then stay empty."""
        self._keep_documents = keep_documents
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._max_skew_s = max_skew_s
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(ReceiverStats)), 0)
        self._orders: dict[str, dict[str, Any]] = {}
        self._requests: list[RecordedRequest] = []
        self._override: _Override | None = None
        self._release = threading.Event()
        self._live: set[socket.socket] = set()
        self._server_names: list[str | None] = []
        self._thread: threading.Thread | None = None
        self._now = datetime.fromtimestamp(clock_s(), UTC)
        self._ca = LocalCa.create(self._now)
        self.ca_file = self.folder / "ca.pem"
        self.ca_file.write_bytes(_pem(self._ca.certificate))
        self._context: ssl.SSLContext | None = None
        if tls:
            self._context = self._server_context(tls_maximum_version, require_client_certificate)
        self._server = _Server((host, port), _Handler, self)
        self.port: int = self._server.server_address[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{host}:{self.port}{path}"

    def _server_context(
        self, maximum: ssl.TLSVersion | None, require_client_certificate: bool
    ) -> ssl.SSLContext:
        certificate, key = self._ca.issue("localhost", server=True, now=self._now)
        cert_file, key_file = self.folder / "server.pem", self.folder / "server.key"
        cert_file.write_bytes(_pem(certificate) + _pem(self._ca.certificate))
        _write_private(key_file, _key_pem(key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        context.sni_callback = self._record_server_name
        if maximum is not None:
            with warnings.catch_warnings():  # old versions are the point of this option
                warnings.simplefilter("ignore", DeprecationWarning)
                context.maximum_version = maximum
                if maximum < ssl.TLSVersion.TLSv1_2:
                    # OpenSSL 3 refuses TLS < 1.2 at its default security level; without
                    # this the "old server" would not speak the old version at all.
                    context.minimum_version = ssl.TLSVersion.TLSv1
                    context.set_ciphers("DEFAULT:@SECLEVEL=0")
        if require_client_certificate:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=_pem(self._ca.certificate).decode())
        return context

    def _record_server_name(
        self, connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        with self._lock:
            self._server_names.append(server_name)

    def issue_client_certificate(self, name: str = "ordervault") -> tuple[Path, Path]:
        """A client certificate from this receiver's CA: (cert file, key file mode 0600)."""
        certificate, key = self._ca.issue(name, server=False, now=self._now)
        cert_file, key_file = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        cert_file.write_bytes(_pem(certificate))
        _write_private(key_file, _key_pem(key))
        return cert_file, key_file

    # -- control -------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"webhook-receiver:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # wake handlers told to answer slowly
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            live = list(self._live)
        for connection in live:  # idle keep-alive connections would otherwise linger
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def respond_with(
        self,
        status: int | None,
        *,
        retry_after: str | None = None,
        delay_s: float = 0.0,
        echo: bool = False,
        times: int | None = None,
    ) -> None:
        """Answer the next `times` requests (all, if None) with `status` after `delay_s`.

        `status` None with a delay processes requests normally, only late. `echo` sends the
        request body back, as careless servers do in error pages (a sender must not repeat it).
        """
        with self._lock:
            self._override = _Override(status, retry_after, delay_s, echo, times)

    def reset_responses(self) -> None:
        with self._lock:
            self._override = None

    @property
    def stats(self) -> ReceiverStats:
        with self._lock:
            return ReceiverStats(**self._counts)

    @property
    def orders(self) -> list[dict[str, Any]]:
        """Accepted order documents, each idempotency key once, in arrival order."""
        with self._lock:
            return [d for d in self._orders.values() if d is not _NOT_KEPT]

    @property
    def server_names(self) -> list[str | None]:
        """The SNI name of each TLS handshake (None when the client sent none, as for an IP)."""
        with self._lock:
            return list(self._server_names)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    # -- called from handler threads -----------------------------------------------------

    def _count(self, **increments: int) -> None:
        with self._lock:
            for name, increment in increments.items():
                self._counts[name] += increment

    def _take_override(self) -> _Override | None:
        # Called with the lock held.
        override = self._override
        if override is None:
            return None
        if override.remaining is not None:
            override.remaining -= 1
            if override.remaining <= 0:
                self._override = None
        return override

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        """Process one POST into the reply to send."""
        with self._lock:
            self._counts["requests"] += 1
            override = self._take_override()
        reply = self._decide(override, path, headers, body)
        if self._keep_documents:
            with self._lock:
                self._requests.append(RecordedRequest(path, headers, body, reply.status))
        return reply

    def _decide(
        self, override: _Override | None, path: str, headers: dict[str, str], body: bytes
    ) -> _Reply:
        if override is not None:
            if override.delay_s:
                self._release.wait(override.delay_s)
            if override.status is not None:
                self._count(forced=1)
                extra = {"Retry-After": override.retry_after} if override.retry_after else {}
                return _Reply(override.status, extra, body if override.echo else None)
        if path != self.path:
            return _Reply(404)
        signature = headers.get("ordervault-signature")
        now_s = self._clock_s()
        if not verify_signature(
            self._secret, signature, body, now_s=now_s, max_skew_s=self._max_skew_s
        ):
            self._count(rejected=1)
            return _Reply(401)
        documents = _documents(body)
        if documents is None:
            self._count(rejected=1)
            return _Reply(400)
        with self._lock:
            fresh = 0
            for key, document in documents:
                if key not in self._orders:
                    self._orders[key] = document if self._keep_documents else _NOT_KEPT
                    fresh += 1
            self._counts["received"] += len(documents)
            self._counts["accepted"] += fresh
            self._counts["duplicates"] += len(documents) - fresh
        return _Reply(200)

    def _connection(self, connection: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._live.add(connection)
            else:
                self._live.discard(connection)


def _documents(body: bytes) -> list[tuple[str, dict[str, Any]]] | None:
    """(idempotency key, document) for each order of a single or batch body; None if malformed."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    documents = payload.get("orders") if set(payload) == {"orders"} else [payload]
    if not isinstance(documents, list) or not documents:
        return None
    found = []
    for document in documents:
        meta = document.get("ordervault") if isinstance(document, dict) else None
        key = meta.get("idempotency_key") if isinstance(meta, dict) else None
        if not isinstance(key, str):
            return None
        found.append((key, document))
    return found


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], owner: WebhookReceiver
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the connection's own thread, so a client that
        # stalls mid-handshake cannot hold up the accept loop.
        request.settimeout(_IDLE_TIMEOUT_S)
        context = self.owner._context
        if context is not None:
            try:
                request = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                self.owner._count(handshake_failures=1)
                return
        self.owner._count(connections=1)
        self.owner._connection(request, opened=True)
        try:
            super().finish_request(request, client_address)
        finally:
            self.owner._connection(request, opened=False)
            request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, refused certificates) are expected here, not news.
        log.debug("webhook receiver: connection ended abnormally")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # The answer goes out as headers, then body: with Nagle on, the body waits for the
    # client's delayed ACK of the headers, about 40 ms per request on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server
    raw_requestline: bytes  # set by http.server before `parse_request`
    fields: dict[str, str]  # the request's headers, names in lower case

    def parse_request(self) -> bool:
        """Read the request line and headers into `command`, `path` and `fields`.

        http.server reads headers through `email.parser`, the larger part of the receiver's
        CPU per request; a webhook's head needs no more than name, colon, value. Refused as
        http.server refuses: a bad request line (400), HTTP/2 and later (505), a line over
        64 KiB or more than 100 headers (431); and, being stricter, a line that is not
        `name: value` (obsolete folding included) or two different Content-Lengths (400).
        """
        self.command = ""
        self.request_version = self.protocol_version  # errors get a status line, not 0.9's none
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request line")
            return False
        command, path, version = words
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            major = version[5:].partition(".")[0]
            too_new = major.isascii() and major.isdigit() and int(major) >= 2
            self.send_error(
                HTTPStatus.HTTP_VERSION_NOT_SUPPORTED if too_new else HTTPStatus.BAD_REQUEST
            )
            return False
        self.command, self.path, self.request_version = command, path, version
        found: dict[str, str] = {}
        for count in range(_MAX_HEADERS + 1):
            line = self.rfile.readline(_MAX_LINE_BYTES + 1)
            if len(line) > _MAX_LINE_BYTES:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            if count == _MAX_HEADERS:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
                return False
            name, colon, value = str(line, "iso-8859-1").partition(":")
            key = name.lower()
            value = value.strip()
            if (
                not colon
                or not _TOKEN.fullmatch(name)
                or (key == "content-length" and found.get(key, value) != value)
            ):
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad header line")
                return False
            found[key] = value
        self.fields = found
        options = {o.strip() for o in found.get("connection", "").lower().split(",")}
        self.close_connection = (
            "close" in options if version == "HTTP/1.1" else "keep-alive" not in options
        )
        if found.get("expect", "").lower() == "100-continue" and version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def do_POST(self) -> None:
        length_field = self.fields.get("content-length", "0")
        if "transfer-encoding" in self.fields or not (
            length_field.isascii() and length_field.isdigit()
        ):
            # A body without a length cannot be framed: what follows is not a request.
            self.close_connection = True
            self._answer(_Reply(400))
            return
        length = int(length_field)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._answer(_Reply(413))
            return
        body = self.rfile.read(length)
        if len(body) < length:
            # The client went away mid-body (a worker killed while sending): there is no
            # request to judge, and the sender never reads an answer. Not counted as rejected.
            self.close_connection = True
            return
        self._answer(self.server.owner._handle(self.path, self.fields, body))

    def _answer(self, reply: _Reply) -> None:
        payload = reply.body if reply.body is not None else b'{"status":%d}' % reply.status
        if log.isEnabledFor(logging.DEBUG):
            self.log_request(reply.status)
        # Status line, headers and body in one write: one TLS record, one segment.
        head = [
            f"{self.protocol_version} {reply.status} {_REASONS.get(reply.status, '')}",
            f"Date: {_http_date(int(time.time()))}",
            *(f"{name}: {value}" for name, value in reply.headers.items()),
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
        ]
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write("\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + payload)

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines only (method, path, status): never headers or bodies.
        log.debug("webhook receiver: " + format, *args)


@functools.lru_cache(maxsize=4)
def _http_date(now_s: int) -> str:
    """The Date header for a second; formatted once per second, not once per answer."""
    return formatdate(now_s, usegmt=True)

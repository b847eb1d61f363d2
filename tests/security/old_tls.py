"""A TLS server that speaks only TLS 1.0 and 1.1, and records how each handshake ended.

A client that offers nothing below TLS 1.2 makes the server fail with `UNSUPPORTED_PROTOCOL`
before any certificate is sent, so the client's trust store plays no part in the outcome: a
client that would accept TLS 1.1 gets as far as the certificate instead (and the server records
the protocol, or the alert the client sent about the certificate).
"""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: What the server records when the client offered only TLS 1.2 or newer.
REFUSED_BY_CLIENT = "UNSUPPORTED_PROTOCOL"
_HANDSHAKE_TIMEOUT_S = 5.0
_POLL_S = 0.05


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "old-tls.pem", folder / "old-tls.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _old_versions_only(context: ssl.SSLContext) -> None:
    with warnings.catch_warnings():  # old versions are the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    # OpenSSL 3 refuses TLS < 1.2 at its default security level.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")


class OldTlsServer:
    """`with OldTlsServer(folder) as server:` then point a client at `server.url`."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = _self_signed(folder)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert_file, key_file)
        _old_versions_only(self._context)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL_S)  # so the accept loop sees `_stop`
        self._stop = threading.Event()
        self.port: int = self._listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._outcomes: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name="old-tls", daemon=True)

    def __enter__(self) -> OldTlsServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=_HANDSHAKE_TIMEOUT_S)
        self._listener.close()

    def outcomes(self, at_least: int = 1) -> list[str]:
        """Each handshake's protocol ("TLSv1.1") or OpenSSL's reason for failing, in order.

        Waits (briefly) for `at_least` of them: the client may give up before the server has
        written its side down.
        """
        with self._changed:
            self._changed.wait_for(
                lambda: len(self._outcomes) >= at_least, timeout=_HANDSHAKE_TIMEOUT_S
            )
            return list(self._outcomes)

    def speaks_old_tls(self) -> bool:
        """Whether a client willing to use TLS 1.1 gets it here (some OpenSSL builds cannot)."""
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        _old_versions_only(client)
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw,
                client.wrap_socket(raw) as tls,
            ):
                agreed = tls.version()
        except (ssl.SSLError, OSError):
            agreed = None
        self.outcomes(at_least=1)  # the server's record of this probe
        with self._changed:
            self._outcomes.clear()
        return agreed in ("TLSv1", "TLSv1.1")

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(_HANDSHAKE_TIMEOUT_S)
            try:
                with self._context.wrap_socket(connection, server_side=True) as tls:
                    outcome = str(tls.version())
            except ssl.SSLError as exc:
                outcome = str(exc.reason)
            except OSError as exc:
                outcome = type(exc).__name__
            finally:
                connection.close()
            with self._changed:
                self._outcomes.append(outcome)
                self._changed.notify_all()

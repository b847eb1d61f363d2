"""eBay's side of account deletion: a signing key, signed notifications, a key endpoint."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

APP_TOKEN = "v^1.1#synthetic-app-token"
KEY_PATH = "/commerce/notification/v1/public_key"


@dataclass
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def sign(self, body: bytes, *, kid: str | None = None) -> str:
        """The X-EBAY-SIGNATURE header eBay would send with `body`."""
        signature = self.private.sign(body, ec.ECDSA(hashes.SHA1()))
        header = {
            "alg": "ECDSA",
            "kid": kid or self.kid,
            "signature": base64.b64encode(signature).decode(),
            "digest": "SHA1",
        }
        return base64.b64encode(json.dumps(header).encode()).decode()

    def key_text(self) -> str:
        """The public key as getPublicKey returns it: PEM markers, no line breaks."""
        pem = (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return "".join(pem.splitlines())


def notification(
    notification_id: str,
    *,
    user_id: str | None = None,
    username: str | None = None,
    eias_token: str | None = None,
    topic: str = "MARKETPLACE_ACCOUNT_DELETION",
) -> bytes:
    """A notification body, compact JSON as eBay sends it."""
    document: dict[str, Any] = {
        "metadata": {
            "topic": topic,
            "schemaVersion": "1.0",
            "deprecated": False,
        },
        "notification": {
            "notificationId": notification_id,
            "eventDate": "2026-10-02T11:58:00.000Z",
            "publishDate": "2026-10-02T11:58:01.000Z",
            "publishAttemptCount": 1,
            "data": {"username": username, "userId": user_id, "eiasToken": eias_token},
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass
class KeyServer:
    """Notification API `getPublicKey` on loopback; counts the lookups it answers."""

    keys: dict[str, SigningKey]
    port: int = 0
    lookups: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{KEY_PATH}"


@contextmanager
def key_server(*keys: SigningKey) -> Iterator[KeyServer]:
    state = KeyServer({key.kid: key for key in keys})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            kid = self.path.removeprefix(KEY_PATH + "/")
            state.lookups.append(kid)
            if self.headers.get("Authorization") != f"Bearer {APP_TOKEN}":
                self._answer(401, {"errors": [{"errorId": 1001}]})
            elif not self.path.startswith(KEY_PATH + "/") or kid not in state.keys:
                self._answer(404, {"errors": [{"errorId": 195001}]})
            else:
                key = state.keys[kid]
                self._answer(200, {"algorithm": "ECDSA", "digest": "SHA1", "key": key.key_text()})

        def _answer(self, status: int, document: object) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

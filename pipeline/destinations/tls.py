"""The client-side TLS context of a webhook: TLS 1.2 at least (DPP 1.5), optional client cert.

`ssl` loads a private key only from a file. The client key is a secret reference, so its PEM
is written to a file of mode 0600 inside a fresh 0700 folder (on tmpfs where there is one, so
it never reaches a disk), loaded, and deleted at once.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

TLS_FLOOR = ssl.TLSVersion.TLSv1_2
# Only ever the parent of a fresh mkdtemp folder (0700, unguessable name).
_TMPFS = Path("/dev/shm")  # noqa: S108  # nosec B108


def client_context(
    verify: ssl.SSLContext | str | bool,
    *,
    client_cert: str | None = None,
    client_key_pem: str | None = None,
) -> ssl.SSLContext:
    """An SSLContext that verifies the server (`verify`: context, CA file, or system CAs)."""
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif isinstance(verify, str):
        context = ssl.create_default_context(cafile=verify)
    else:
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    # MINIMUM_SUPPORTED is negative, so this also raises an "anything goes" floor.
    if context.minimum_version < TLS_FLOOR:
        context.minimum_version = TLS_FLOOR
    maximum = context.maximum_version
    if maximum != ssl.TLSVersion.MAXIMUM_SUPPORTED and maximum < TLS_FLOOR:
        raise ValueError("the TLS context allows nothing at or above TLS 1.2")
    if client_cert is not None:
        _load_client_certificate(context, client_cert, client_key_pem)
    elif client_key_pem is not None:
        raise ValueError("client_key given without client_cert")
    return context


def _load_client_certificate(context: ssl.SSLContext, cert_path: str, key_pem: str | None) -> None:
    try:
        if key_pem is None:  # the certificate file carries its key too
            context.load_cert_chain(cert_path)
            return
        base = str(_TMPFS) if _TMPFS.is_dir() and os.access(_TMPFS, os.W_OK) else None
        with tempfile.TemporaryDirectory(prefix="ordervault-key-", dir=base) as folder:
            key_path = os.path.join(folder, "client.key")
            descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as key_file:
                key_file.write(key_pem.strip() + "\n")
            context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        # The reason is an OpenSSL constant (e.g. KEY_VALUES_MISMATCH), never key material.
        raise ValueError(f"client certificate or key not usable ({exc.reason})") from None
    except (OSError, UnicodeError) as exc:
        raise ValueError(
            f"client certificate not readable: {cert_path} ({type(exc).__name__})"
        ) from None

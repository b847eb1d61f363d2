"""SSH keys of an SFTP destination: the pinned server host key and the client's private key.

The host key is pinned in config as a known_hosts entry ("<type> <base64>"); a server that
presents any other key is refused, because with SSH an unchecked host key means anyone on the
path can read the orders.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import struct
from dataclasses import dataclass

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

# Key type inside the blob -> the host key algorithms that prove possession of such a key.
# Asking the server for exactly these makes it present the pinned key, not another of its keys.
# ssh-rsa means the key's type; its SHA-1 signature algorithm is not offered (paramiko 5 neither).
_HOST_KEY_ALGORITHMS = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}
_RSA_NAMES = {"ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"}


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob, e.g. 'SHA256:47DEQpj8...'."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


@dataclass(frozen=True)
class PinnedHostKey:
    key_type: str
    blob: bytes

    @classmethod
    def parse(cls, entry: str) -> PinnedHostKey:
        """Read a known_hosts style "<type> <base64>" entry; ValueError if it is not one."""
        name, _, encoded = entry.strip().partition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
            (length,) = struct.unpack(">I", blob[:4])
            key_type = blob[4 : 4 + length].decode("ascii")
        except (binascii.Error, struct.error, UnicodeDecodeError):
            raise ValueError("host_key is not a valid '<type> <base64>' public key") from None
        if key_type not in _HOST_KEY_ALGORITHMS:
            raise ValueError(f"host_key type {key_type} is not supported")
        if name != key_type and not (name in _RSA_NAMES and key_type == "ssh-rsa"):
            raise ValueError(f"host_key says {name} but holds a {key_type} key")
        return cls(key_type, blob)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return _HOST_KEY_ALGORITHMS[self.key_type]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    def matches(self, presented: bytes) -> bool:
        return presented == self.blob


def load_private_key(pem: str) -> paramiko.PKey:
    """The client key from its secret's text (OpenSSH or PEM, unencrypted); ValueError if not."""
    data = pem.strip().encode("ascii", errors="replace") + b"\n"
    loaded: object
    try:
        loaded = serialization.load_ssh_private_key(data, password=None)
    except (ValueError, TypeError):
        try:
            loaded = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ValueError(
                "private_key is not an unencrypted OpenSSH or PEM private key"
            ) from None
    key_class: type[paramiko.PKey]
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    else:
        raise ValueError(f"private_key type {type(loaded).__name__} is not supported")
    return key_class.from_private_key(io.StringIO(data.decode("ascii")))

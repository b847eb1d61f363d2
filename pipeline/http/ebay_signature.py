"""`X-EBAY-SIGNATURE`: eBay's ECDSA signature over a notification's body.

The header is base64 of JSON `{"alg": "ECDSA", "kid": ..., "signature": <base64 DER>,
"digest": "SHA1"}`. The signature is checked over the raw body; eBay's own SDKs check it over
the compact re-serialisation of the parsed JSON (`JSON.stringify`), which is the same bytes for
the compact JSON eBay sends, so either form is accepted. Both are bytes eBay's key signed.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from pipeline.http.ebay_keys import PublicKeyCache, UnknownKeyError, valid_key_id

__all__ = ["SIGNATURE_HEADER", "Rejection", "SignatureError", "SignatureHeader", "verify"]

SIGNATURE_HEADER = "x-ebay-signature"
_MAX_HEADER_CHARS = 4096


class Rejection(enum.StrEnum):
    """Why a notification was refused; a fixed set, safe to audit and log."""

    MISSING = "missing_signature"
    MALFORMED = "malformed_signature"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"


class SignatureError(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.value)
        self.rejection = rejection


@dataclass(frozen=True)
class SignatureHeader:
    kid: str
    signature: bytes

    @classmethod
    def parse(cls, value: str | None) -> SignatureHeader:
        if not value:
            raise SignatureError(Rejection.MISSING)
        if len(value) > _MAX_HEADER_CHARS:
            raise SignatureError(Rejection.MALFORMED)
        try:
            document = json.loads(base64.b64decode(value.strip(), validate=True))
            signature = base64.b64decode(document["signature"], validate=True)
            alg, digest, kid = document["alg"], document["digest"], document["kid"]
        except (ValueError, binascii.Error, KeyError, TypeError):
            raise SignatureError(Rejection.MALFORMED) from None
        if not (isinstance(alg, str) and isinstance(digest, str)):
            raise SignatureError(Rejection.MALFORMED)
        if alg.upper() != "ECDSA" or digest.upper() != "SHA1" or not valid_key_id(kid):
            raise SignatureError(Rejection.MALFORMED)
        return cls(kid=kid, signature=signature)


def _signed_forms(body: bytes) -> list[bytes]:
    forms = [body]
    try:
        compact = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        return forms
    if compact != body:
        forms.append(compact)
    return forms


async def verify(header_value: str | None, body: bytes, keys: PublicKeyCache) -> str:
    """Check the signature; returns the key id, or raises SignatureError saying why not.

    `KeyUnavailableError` passes through: the key could not be fetched now, which says
    nothing about the signature.
    """
    header = SignatureHeader.parse(header_value)
    try:
        key = await keys.get(header.kid)
    except UnknownKeyError:
        raise SignatureError(Rejection.UNKNOWN_KEY) from None
    for signed in _signed_forms(body):
        try:
            key.verify(header.signature, signed, ec.ECDSA(hashes.SHA1()))  # noqa: S303 - eBay's scheme  # nosec B303
        except InvalidSignature:
            continue
        return header.kid
    raise SignatureError(Rejection.BAD_SIGNATURE)

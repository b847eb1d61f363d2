"""Byte formats and associated data. Private: callers use `PiiVault`, never these.

Sealed PII, format 1 (data key: 32 random bytes, used for this one plaintext)::

    0x01 | nonce (12) | AES-256-GCM ciphertext + tag (16)
    AD = 0x01 "ordervault/pii" NUL record

Wrapped data key, format 1 (77 bytes)::

    0x01 | bucket key_id (16) | nonce (12) | AES-256-GCM(bucket key, data key) + tag (16)
    AD = 0x01 | key_id | "ordervault/data-key" NUL bucket client NUL bucket day (ISO) NUL record

where record = client NUL marketplace NUL record_id NUL schema_version (decimal), UTF-8. The
version byte and the key_id are authenticated (part of the AD), so neither can be edited; a new
format gets a new version byte and its own branch here. Fields are NUL-joined, which is
unambiguous because `RecordRef` and client ids refuse NUL. The bucket's part of the AD is
computed once per cached bucket key, the record's once per call: this is the hot path.

Every nonce is 96 random bits. A data key encrypts exactly one plaintext and a bucket key wraps at
most a few million data keys, far below the 2**32 messages per key that random GCM nonces allow.

Two implementations of the per-record functions (`seal_record`, `open_record`,
`unwrap_data_key`, `wrap_data_key`) write the same bytes: the Python ones below, on
cryptography's `AESGCM`, and `native` (crypto/_aead.c, on OpenSSL directly, keys held as
`native.SecretKey`), which does each in one C call. `native` is None when the package was
installed without a C compiler or the OpenSSL headers; `backend()` names the one in use.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Mapping
from datetime import date
from types import ModuleType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import DecryptError
from crypto.records import RecordRef

native: ModuleType | None
try:
    from crypto import _aead as native
except ImportError:  # built without a compiler or OpenSSL headers: the Python functions below
    native = None

KEY_BYTES = 32
KEY_ID_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
# One draw of randomness per seal: data key, PII nonce, data-key wrapping nonce.
SEAL_RANDOM_PARTS = (KEY_BYTES, NONCE_BYTES, NONCE_BYTES)

_PII_V1 = 1
_PII_HEADER_V1 = bytes([_PII_V1])
_PII_MIN_BYTES = 1 + NONCE_BYTES + TAG_BYTES
_PII_AD_V1 = _PII_HEADER_V1 + b"ordervault/pii\0"

_DATA_KEY_V1 = 1
_DATA_KEY_HEADER_V1 = bytes([_DATA_KEY_V1])
_DATA_KEY_HEADER_BYTES = 1 + KEY_ID_BYTES
WRAPPED_DATA_KEY_BYTES = _DATA_KEY_HEADER_BYTES + NONCE_BYTES + KEY_BYTES + TAG_BYTES
# Version, key_id, nonce, body: the open path splits a wrapped key in one C call.
_WRAPPED_DATA_KEY_V1 = struct.Struct(f"B{KEY_ID_BYTES}s{NONCE_BYTES}s{KEY_BYTES + TAG_BYTES}s")
# (bucket key_id, nonce, AES-GCM body + tag) of a wrapped data key.
WrappedKeyParts = tuple[bytes, bytes, bytes]

_ROOT_WRAP_V1 = 1
_ROOT_WRAP_HEADER_V1 = bytes([_ROOT_WRAP_V1])
_ROOT_WRAP_BYTES = 1 + NONCE_BYTES + KEY_BYTES + TAG_BYTES


def backend() -> str:
    """ "openssl" when the compiled per-record path (crypto/_aead.c) is loaded, else
    "cryptography" (the pure-Python path on pyca/cryptography's AESGCM)."""
    return "cryptography" if native is None else "openssl"


def _record_ad(record: RecordRef) -> bytes:
    client_id, marketplace, record_id, schema_version = record
    return f"{client_id}\0{marketplace}\0{record_id}\0{schema_version}".encode()


def bucket_ad(key_id: bytes, client_id: str, day: date) -> bytes:
    """The bucket's part of a wrapped data key's AD, header included; starts with the header."""
    label = f"ordervault/data-key\0{client_id}\0{day.isoformat()}\0"
    return _DATA_KEY_HEADER_V1 + key_id + label.encode()


# seal_record and open_record run once per record: they avoid helper calls and compute no
# offsets, which here costs as much as the AES work itself.
_PII_BODY = 1 + NONCE_BYTES
_WRAPPED_NONCE = _DATA_KEY_HEADER_BYTES


def seal_record(
    bucket_aead: AESGCM,
    bucket_ad_bytes: bytes,
    randomness: tuple[bytes, ...],
    pii: bytes,
    record: RecordRef,
) -> tuple[bytes, bytes]:
    """(sealed PII, wrapped data key); `randomness` is fresh (data key, PII nonce, key nonce)."""
    data_key, pii_nonce, key_nonce = randomness
    client_id, marketplace, record_id, schema_version = record
    record_ad = f"{client_id}\0{marketplace}\0{record_id}\0{schema_version}".encode()
    pii_body = AESGCM(data_key).encrypt(pii_nonce, pii, _PII_AD_V1 + record_ad)
    key_body = bucket_aead.encrypt(key_nonce, data_key, bucket_ad_bytes + record_ad)
    return (
        _PII_HEADER_V1 + pii_nonce + pii_body,
        bucket_ad_bytes[:_WRAPPED_NONCE] + key_nonce + key_body,
    )


def open_record(
    bucket_aead: AESGCM,
    bucket_ad_bytes: bytes,
    wrapped_key: WrappedKeyParts,
    sealed: bytes,
    record: RecordRef,
) -> bytes:
    """The PII in `sealed`; `bucket_*` must be the bucket that `wrapped_key` names."""
    if len(sealed) < _PII_MIN_BYTES or sealed[0] != _PII_V1:
        raise DecryptError
    client_id, marketplace, record_id, schema_version = record
    record_ad = f"{client_id}\0{marketplace}\0{record_id}\0{schema_version}".encode()
    try:
        data_key = bucket_aead.decrypt(wrapped_key[1], wrapped_key[2], bucket_ad_bytes + record_ad)
        return AESGCM(data_key).decrypt(
            sealed[1:_PII_BODY], sealed[_PII_BODY:], _PII_AD_V1 + record_ad
        )
    except InvalidTag:
        raise DecryptError from None


def split_wrapped_key(wrapped_key: bytes) -> WrappedKeyParts:
    """(bucket key_id, nonce, body) of a wrapped data key; DecryptError if it is not one we know."""
    if type(wrapped_key) is bytes and len(wrapped_key) == WRAPPED_DATA_KEY_BYTES:
        version, key_id, nonce, body = _WRAPPED_DATA_KEY_V1.unpack(wrapped_key)
        if version == _DATA_KEY_V1:
            return key_id, nonce, body
    raise DecryptError


def unwrap_data_key(
    bucket_aead: AESGCM, bucket_ad_bytes: bytes, wrapped_key: WrappedKeyParts, record: RecordRef
) -> bytes:
    try:
        return bucket_aead.decrypt(
            wrapped_key[1], wrapped_key[2], bucket_ad_bytes + _record_ad(record)
        )
    except InvalidTag:
        raise DecryptError from None


def wrap_data_key(
    bucket_aead: AESGCM, bucket_ad_bytes: bytes, nonce: bytes, data_key: bytes, record: RecordRef
) -> bytes:
    ad = bucket_ad_bytes + _record_ad(record)
    return (
        bucket_ad_bytes[:_DATA_KEY_HEADER_BYTES] + nonce + bucket_aead.encrypt(nonce, data_key, ad)
    )


def key_commitment(raw_key: bytes, client_id: str, day: date, key_id: str) -> str:
    """HMAC-SHA256 under the key itself: binds the key without revealing anything about it."""
    label = f"ordervault/bucket-key-commitment/v1\0{client_id}\0{day.isoformat()}\0{key_id}"
    return hmac.new(raw_key, label.encode(), hashlib.sha256).hexdigest()


def bucket_root_context(client_id: str, day: date, key_id: str) -> dict[str, str]:
    """What a root provider binds a wrapped bucket key to (KMS: the EncryptionContext)."""
    return {
        "ordervault:purpose": "bucket-key",
        "ordervault:client": client_id,
        "ordervault:bucket": f"{day.isoformat()}/{key_id}",
    }


def index_root_context(client_id: str, key_id: str) -> dict[str, str]:
    return {
        "ordervault:purpose": "index-key",
        "ordervault:client": client_id,
        "ordervault:index-key": key_id,
    }


def _root_wrap_ad(root_key_id: str, context: Mapping[str, str]) -> bytes:
    # JSON with sorted keys is a canonical, unambiguous encoding of the context mapping.
    canonical = json.dumps(dict(context), sort_keys=True, separators=(",", ":"))
    return _ROOT_WRAP_HEADER_V1 + f"ordervault/root-wrap\0{root_key_id}\0{canonical}".encode()


def wrap_under_root(
    root_aead: AESGCM, root_key_id: str, nonce: bytes, key: bytes, context: Mapping[str, str]
) -> bytes:
    """Local root format 1: 0x01 | nonce (12) | AES-256-GCM(root, key) + tag."""
    ad = _root_wrap_ad(root_key_id, context)
    return _ROOT_WRAP_HEADER_V1 + nonce + root_aead.encrypt(nonce, key, ad)


def unwrap_under_root(
    root_aead: AESGCM, root_key_id: str, wrapped: bytes, context: Mapping[str, str]
) -> bytes:
    if len(wrapped) != _ROOT_WRAP_BYTES or wrapped[0] != _ROOT_WRAP_V1:
        raise DecryptError
    ad = _root_wrap_ad(root_key_id, context)
    try:
        return root_aead.decrypt(wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :], ad)
    except InvalidTag:
        raise DecryptError from None

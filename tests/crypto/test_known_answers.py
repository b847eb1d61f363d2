"""Known-answer vectors: fixed keys, nonces, AD and plaintext give fixed bytes.

They pin the formats: any change to a layout, a label, the AD encoding or a KDF shows up here,
and must come with a new version byte rather than an edit of these constants.
"""

from __future__ import annotations

from datetime import date

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import LocalRootKey, RecordRef, _format
from crypto.blind_index import IndexKey

BUCKET_KEY = bytes(range(32))
BUCKET_KEY_ID = bytes(range(16))
BUCKET_DAY = date(2026, 4, 5)
# Data key | PII nonce | data-key nonce, as one seal draws them.
RANDOMNESS = bytes(range(100, 156))
SEAL_DRAW = (RANDOMNESS[:32], RANDOMNESS[32:44], RANDOMNESS[44:])
RECORD = RecordRef("acme", "amazon", "302-1234567-7654321", 3)
PII = b'{"name":"Erika Mustermann"}'
ROOT_KEY = bytes(range(200, 232))

SEALED_PII = bytes.fromhex(
    "018485868788898a8b8c8d8e8f9c5aa566b926ad2f2ae54190f69e3d2ccde04c69d88dd0250e745605f302"
    "2d345c598f03436385a6a4097f"
)
WRAPPED_DATA_KEY = bytes.fromhex(
    "01000102030405060708090a0b0c0d0e0f909192939495969798999a9b92af935850f0949423912e4c1a08"
    "9d2d1e6cc37b5ac7e478f0643e896e33683784a9f84035ebdf66db621dba345b4084"
)
ROOT_WRAPPED = bytes.fromhex(
    "01000000000000000000000000cbbf8d6f35a68c3a1333c4c4145ca7bbf5578237b0f5136eba7e9b8e8ff0"
    "3f37ca0acf88af9a9cc67fdbc86bc0c32ab2"
)


def test_sealed_pii_and_wrapped_data_key_vector() -> None:
    bucket_ad = _format.bucket_ad(BUCKET_KEY_ID, "acme", BUCKET_DAY)
    sealed, wrapped = _format.seal_record(AESGCM(BUCKET_KEY), bucket_ad, SEAL_DRAW, PII, RECORD)
    assert sealed == SEALED_PII
    assert wrapped == WRAPPED_DATA_KEY
    parts = _format.split_wrapped_key(wrapped)
    assert parts == (BUCKET_KEY_ID, SEAL_DRAW[2], wrapped[29:])
    assert _format.open_record(AESGCM(BUCKET_KEY), bucket_ad, parts, sealed, RECORD) == PII


def test_vector_matches_the_documented_layout() -> None:
    """Rebuild both blobs from the format description alone, with the bare primitive."""
    data_key, pii_nonce, key_nonce = RANDOMNESS[:32], RANDOMNESS[32:44], RANDOMNESS[44:]
    record = b"acme\x00amazon\x00302-1234567-7654321\x003"
    pii_ad = b"\x01ordervault/pii\x00" + record
    assert b"\x01" + pii_nonce + AESGCM(data_key).encrypt(pii_nonce, PII, pii_ad) == SEALED_PII
    header = b"\x01" + BUCKET_KEY_ID
    key_ad = header + b"ordervault/data-key\x00acme\x002026-04-05\x00" + record
    body = AESGCM(BUCKET_KEY).encrypt(key_nonce, data_key, key_ad)
    assert header + key_nonce + body == WRAPPED_DATA_KEY
    assert len(WRAPPED_DATA_KEY) == _format.WRAPPED_DATA_KEY_BYTES == 77


def test_local_root_wrap_vector() -> None:
    context = _format.bucket_root_context("acme", BUCKET_DAY, BUCKET_KEY_ID.hex())
    wrapped = _format.wrap_under_root(AESGCM(ROOT_KEY), "local:abc", bytes(12), bytes(32), context)
    assert wrapped == ROOT_WRAPPED
    unwrapped = _format.unwrap_under_root(AESGCM(ROOT_KEY), "local:abc", wrapped, context)
    assert unwrapped == bytes(32)


def test_root_key_id_commitment_and_blind_index_vectors() -> None:
    assert LocalRootKey(ROOT_KEY).root_key_id == "local:457af546cd7b6d1437e095f7da72dd13"
    assert (
        _format.key_commitment(BUCKET_KEY, "acme", BUCKET_DAY, BUCKET_KEY_ID.hex())
        == "8df1cc4bb8027043234c307a53fff8d0ab06b52706ad25693c36b6d9b58a857f"
    )
    index_key = IndexKey("acme", bytes(range(32)))
    assert (
        index_key.digest("email", b"erika@example.com")
        == "3f8529756c5d976d1d8a3aa3a6f264ffb97a77f1866d13e6b5cd2fbbc1a459ad"
    )
    assert (
        index_key.digest("content", b"payload")
        == "82befea4c1d6b7e5a4bc0e45b4907d7fc2d287d94df0df4a5fdf38806e551d51"
    )

"""The compiled backend (crypto/_aead.c): the same bytes as the Python one, both ways; every altered
byte refused with the one DecryptError; keys that never leave C memory.

The vault-level tests of this folder run on both backends already (tests/crypto/conftest.py);
these call the per-record functions directly, so they can be exhaustive where those sample.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterator
from datetime import date
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

import crypto
from crypto import DecryptError, LocalRootKey, PiiVault, RecordRef, _format
from tests.crypto.test_known_answers import (
    BUCKET_DAY,
    BUCKET_KEY,
    BUCKET_KEY_ID,
    PII,
    RECORD,
    SEAL_DRAW,
    SEALED_PII,
    WRAPPED_DATA_KEY,
)
from tests.fixtures.keystore import DAY, NOW_S, SqliteKeystore
from tests.services import unavailable

OTHER_RECORD = RecordRef("acme", "amazon", "302-7654321-1234567", 3)
OTHER_KEY = bytes(range(1, 33))
OTHER_KEY_ID = bytes(range(1, 17))


@pytest.fixture
def aead() -> ModuleType:
    """The compiled module; skipped without it, and a failure in CI (it must be built there)."""
    if _format.native is None:
        unavailable("the compiled crypto backend", "crypto._aead is not built")
    assert _format.native is not None
    return _format.native


def _refused(call: Callable[[], object]) -> None:
    with pytest.raises(DecryptError) as caught:
        call()
    assert str(caught.value) == str(DecryptError())
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def _flips(data: bytes) -> Iterator[bytes]:
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        yield bytes(flipped)


def _resized(data: bytes) -> Iterator[bytes]:
    """Every truncation, and extensions by one byte of a few values."""
    for length in range(len(data)):
        yield data[:length]
    for extra in (b"\0", b"\x01", b"\xff"):
        yield data + extra


# --- the backend in use -------------------------------------------------------------------------


def test_the_compiled_backend_is_what_ordervault_uses(aead: ModuleType) -> None:
    """CI sets ORDERVAULT_REQUIRE_SERVICES=1: there, an install that silently fell back to the
    pure-Python path fails here instead of being tested and benchmarked as if it were the
    product."""
    assert crypto.backend() == "openssl"


# --- the same bytes, both ways -------------------------------------------------------------------


def test_known_answer_vector(aead: ModuleType) -> None:
    bucket_ad = _format.bucket_ad(BUCKET_KEY_ID, "acme", BUCKET_DAY)
    key = aead.SecretKey(BUCKET_KEY)
    assert aead.seal_record(key, bucket_ad, SEAL_DRAW, PII, RECORD) == (
        SEALED_PII,
        WRAPPED_DATA_KEY,
    )
    parts = _format.split_wrapped_key(WRAPPED_DATA_KEY)
    assert aead.open_record(key, bucket_ad, parts, SEALED_PII, RECORD) == PII


def _ids(max_chars: int) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=max_chars).filter(lambda s: "\0" not in s)


RECORDS = st.builds(
    RecordRef,
    client_id=_ids(64),
    marketplace=_ids(16),
    record_id=_ids(64),
    schema_version=st.integers(min_value=0, max_value=2**31 - 1),
)


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    key_id=st.binary(min_size=16, max_size=16),
    day=st.dates(),
    draw=st.tuples(
        st.binary(min_size=32, max_size=32),
        st.binary(min_size=12, max_size=12),
        st.binary(min_size=12, max_size=12),
    ),
    pii=st.binary(max_size=4096),
    record=RECORDS,
)
def test_both_backends_write_the_same_bytes_and_open_each_others(
    key: bytes,
    key_id: bytes,
    day: date,
    draw: tuple[bytes, bytes, bytes],
    pii: bytes,
    record: RecordRef,
) -> None:
    aead = _format.native
    if aead is None:
        unavailable("the compiled crypto backend", "crypto._aead is not built")
    assert aead is not None
    bucket_ad = _format.bucket_ad(key_id, record.client_id, day)
    c_key, py_key = aead.SecretKey(key), AESGCM(key)
    c_sealed, c_wrapped = aead.seal_record(c_key, bucket_ad, draw, pii, record)
    py_sealed, py_wrapped = _format.seal_record(py_key, bucket_ad, draw, pii, record)
    assert (c_sealed, c_wrapped) == (py_sealed, py_wrapped)
    # Sealed by the other backend with other randomness: each opens what the other sealed.
    other_draw = (draw[0][::-1], draw[2], draw[1])
    py_sealed, py_wrapped = _format.seal_record(py_key, bucket_ad, other_draw, pii, record)
    py_parts = _format.split_wrapped_key(py_wrapped)
    assert aead.open_record(c_key, bucket_ad, py_parts, py_sealed, record) == pii
    c_parts = _format.split_wrapped_key(c_wrapped)
    assert _format.open_record(py_key, bucket_ad, c_parts, c_sealed, record) == pii
    # Rewrap: the data key moves between backends' wrappings too.
    data_key = aead.unwrap_data_key(c_key, bucket_ad, py_parts, record)
    assert aead.wrap_data_key(c_key, bucket_ad, draw[1], data_key, record) == (
        _format.wrap_data_key(py_key, bucket_ad, draw[1], other_draw[0], record)
    )


def test_record_fields_longer_than_the_stack_buffer(aead: ModuleType) -> None:
    """4-byte UTF-8 at RecordRef's limits: about 2.3 kB of AD, past the C stack buffer."""
    record = RecordRef("\U0001f600" * 64, "\U0001f4e6" * 256, "\U0001f9fe" * 256, 2**31 - 1)
    bucket_ad = _format.bucket_ad(BUCKET_KEY_ID, record.client_id, BUCKET_DAY)
    c_out = aead.seal_record(aead.SecretKey(BUCKET_KEY), bucket_ad, SEAL_DRAW, PII, record)
    assert c_out == _format.seal_record(AESGCM(BUCKET_KEY), bucket_ad, SEAL_DRAW, PII, record)


def test_sealed_by_one_backend_opens_on_the_other_through_the_vault(
    aead: ModuleType, sqlite_keystore: SqliteKeystore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data stored by an install without the extension opens with it, and the reverse."""
    root = LocalRootKey(bytes(range(32)))
    compiled = PiiVault(root, sqlite_keystore.keystore, clock_s=lambda: NOW_S)
    monkeypatch.setattr(_format, "native", None)
    fallback = PiiVault(root, sqlite_keystore.keystore, clock_s=lambda: NOW_S)
    for sealer, opener in ((compiled, fallback), (fallback, compiled)):
        sealed = sealer.seal(RECORD, PII, DAY)
        assert opener.open(RECORD, sealed.ciphertext, sealed.wrapped_key) == PII
        moved = opener.rewrap(RECORD, sealed.wrapped_key, date(2026, 5, 7))
        assert sealer.open(RECORD, sealed.ciphertext, moved.wrapped_key) == PII


# --- every altered byte is refused ---------------------------------------------------------------


@pytest.fixture
def sealed(aead: ModuleType) -> tuple[object, bytes, bytes, bytes]:
    """(bucket key, bucket AD, sealed PII, wrapped data key) of RECORD."""
    key = aead.SecretKey(BUCKET_KEY)
    bucket_ad = _format.bucket_ad(BUCKET_KEY_ID, "acme", BUCKET_DAY)
    ciphertext, wrapped = aead.seal_record(key, bucket_ad, SEAL_DRAW, PII, RECORD)
    return key, bucket_ad, ciphertext, wrapped


def _open(aead: ModuleType, sealed: tuple[object, bytes, bytes, bytes]) -> Callable[..., bytes]:
    key, bucket_ad, _, _ = sealed

    def open_(ciphertext: bytes, wrapped: bytes, record: RecordRef = RECORD) -> bytes:
        # As PiiVault.open does: split (DecryptError for a malformed key), then one C call.
        return aead.open_record(  # type: ignore[no-any-return]
            key, bucket_ad, _format.split_wrapped_key(wrapped), ciphertext, record
        )

    return open_


def test_every_bit_flip_of_the_sealed_pii_is_refused(
    aead: ModuleType, sealed: tuple[object, bytes, bytes, bytes]
) -> None:
    open_, ciphertext, wrapped = _open(aead, sealed), sealed[2], sealed[3]
    for altered in _flips(ciphertext):  # version byte, nonce, body, tag
        _refused(lambda altered=altered: open_(altered, wrapped))


def test_every_bit_flip_of_the_wrapped_key_is_refused(
    aead: ModuleType, sealed: tuple[object, bytes, bytes, bytes]
) -> None:
    open_, ciphertext, wrapped = _open(aead, sealed), sealed[2], sealed[3]
    for altered in _flips(wrapped):  # version byte, key_id, nonce, body, tag
        _refused(lambda altered=altered: open_(ciphertext, altered))


def test_every_truncation_extension_and_version_is_refused(
    aead: ModuleType, sealed: tuple[object, bytes, bytes, bytes]
) -> None:
    open_, ciphertext, wrapped = _open(aead, sealed), sealed[2], sealed[3]
    for altered in _resized(ciphertext):
        _refused(lambda altered=altered: open_(altered, wrapped))
    for altered in _resized(wrapped):
        _refused(lambda altered=altered: open_(ciphertext, altered))
    for version in set(range(256)) - {1}:
        _refused(lambda v=version: open_(bytes([v]) + ciphertext[1:], wrapped))
        _refused(lambda v=version: open_(ciphertext, bytes([v]) + wrapped[1:]))


def test_malformed_parts_or_ciphertext_objects_are_refused(
    aead: ModuleType, sealed: tuple[object, bytes, bytes, bytes]
) -> None:
    """What reaches the C call without going through split_wrapped_key."""
    key, bucket_ad, ciphertext, wrapped = sealed
    parts = _format.split_wrapped_key(wrapped)
    for bad_parts in (
        (),
        parts[:2],
        (*parts, b""),
        (parts[0], parts[1], parts[2][:-1]),
        (parts[0], parts[1][:-1], parts[2]),
        (OTHER_KEY_ID, parts[1], parts[2]),  # names another bucket
        [*parts],
        None,
    ):
        _refused(lambda p=bad_parts: aead.open_record(key, bucket_ad, p, ciphertext, RECORD))
        _refused(lambda p=bad_parts: aead.unwrap_data_key(key, bucket_ad, p, RECORD))
    for bad_ciphertext in (None, "text", 42, ciphertext.decode("latin-1")):
        _refused(lambda c=bad_ciphertext: aead.open_record(key, bucket_ad, parts, c, RECORD))
    # Any bytes-like ciphertext opens, as on the Python path.
    for view in (bytearray(ciphertext), memoryview(ciphertext)):
        assert aead.open_record(key, bucket_ad, parts, view, RECORD) == PII


def test_swapped_between_two_records_is_refused(
    aead: ModuleType, sealed: tuple[object, bytes, bytes, bytes]
) -> None:
    key, bucket_ad, ciphertext, wrapped = sealed
    other_draw = (SEAL_DRAW[0][::-1], SEAL_DRAW[2], SEAL_DRAW[1])
    other_ciphertext, other_wrapped = aead.seal_record(
        key, bucket_ad, other_draw, PII, OTHER_RECORD
    )
    open_ = _open(aead, sealed)
    _refused(lambda: open_(other_ciphertext, wrapped))
    _refused(lambda: open_(ciphertext, other_wrapped))
    _refused(lambda: open_(other_ciphertext, other_wrapped))
    _refused(lambda: open_(ciphertext, wrapped, OTHER_RECORD))
    assert open_(other_ciphertext, other_wrapped, OTHER_RECORD) == PII


def test_swapped_between_two_clients_is_refused(
    aead: ModuleType, sealed: tuple[object, bytes, bytes, bytes]
) -> None:
    key, _, ciphertext, wrapped = sealed
    other = RecordRef("globex", *RECORD[1:])
    other_key = aead.SecretKey(OTHER_KEY)
    other_ad = _format.bucket_ad(OTHER_KEY_ID, "globex", BUCKET_DAY)
    other_ciphertext, other_wrapped = aead.seal_record(other_key, other_ad, SEAL_DRAW, PII, other)
    open_ = _open(aead, sealed)
    _refused(lambda: open_(other_ciphertext, wrapped))
    _refused(lambda: open_(ciphertext, other_wrapped))
    _refused(lambda: open_(other_ciphertext, other_wrapped, other))
    # The other client's bucket, with this client's wrapped key relabelled to name it.
    relabelled = _format.split_wrapped_key(wrapped[:1] + OTHER_KEY_ID + wrapped[17:])
    _refused(lambda: aead.open_record(other_key, other_ad, relabelled, ciphertext, RECORD))
    # The right key under another client's bucket AD.
    same_key_other_ad = _format.bucket_ad(BUCKET_KEY_ID, "globex", BUCKET_DAY)
    parts = _format.split_wrapped_key(wrapped)
    _refused(lambda: aead.open_record(key, same_key_other_ad, parts, ciphertext, other))


# --- keys stay in C memory -----------------------------------------------------------------------


def test_a_secret_key_shows_and_gives_up_no_key_bytes(aead: ModuleType) -> None:
    key = aead.SecretKey(BUCKET_KEY)
    assert BUCKET_KEY.hex() not in repr(key)
    assert "redacted" in repr(key)
    for leak in (bytes, memoryview, pickle.dumps, copy.copy, copy.deepcopy, vars):
        with pytest.raises(TypeError):
            leak(key)
    with pytest.raises(AttributeError):
        key.raw = BUCKET_KEY
    with pytest.raises(TypeError):

        class Leaky(aead.SecretKey):  # type: ignore[misc, name-defined]
            pass


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33), "x" * 32, None])
def test_a_secret_key_is_exactly_32_bytes(aead: ModuleType, raw: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        aead.SecretKey(raw)


def test_misuse_is_a_type_or_value_error_not_a_crash(
    aead: ModuleType, sealed: tuple[object, bytes, bytes, bytes]
) -> None:
    key, bucket_ad, ciphertext, wrapped = sealed
    parts = _format.split_wrapped_key(wrapped)
    with pytest.raises(TypeError):
        aead.seal_record(AESGCM(BUCKET_KEY), bucket_ad, SEAL_DRAW, PII, RECORD)
    with pytest.raises(TypeError):
        aead.seal_record(key, bucket_ad[:16], SEAL_DRAW, PII, RECORD)
    with pytest.raises(TypeError):
        aead.seal_record(key, bucket_ad, SEAL_DRAW, PII, ("acme", "amazon", "1", "1"))
    with pytest.raises(TypeError):
        aead.seal_record(key, bucket_ad, SEAL_DRAW, PII, ("acme", "amazon", "1"))
    with pytest.raises(TypeError):
        aead.seal_record(key, bucket_ad, SEAL_DRAW, "text", RECORD)
    with pytest.raises(TypeError):
        aead.seal_record(key, bucket_ad, SEAL_DRAW, PII)
    with pytest.raises(ValueError, match="randomness"):
        aead.seal_record(key, bucket_ad, SEAL_DRAW[:2], PII, RECORD)
    with pytest.raises(ValueError, match="randomness"):
        aead.seal_record(key, bucket_ad, (SEAL_DRAW[0][:31], *SEAL_DRAW[1:]), PII, RECORD)
    with pytest.raises(TypeError):
        aead.open_record(key, bucket_ad, parts, ciphertext, (1, 2, 3, 4))
    with pytest.raises(ValueError, match="nonce"):
        aead.wrap_data_key(key, bucket_ad, bytes(11), key, RECORD)
    with pytest.raises(TypeError):
        aead.wrap_data_key(key, bucket_ad, bytes(12), BUCKET_KEY, RECORD)
    # A lone surrogate cannot be UTF-8 encoded, on either backend.
    surrogate = RecordRef("acme", "amazon", "\ud800", 1)
    with pytest.raises(UnicodeEncodeError):
        aead.seal_record(key, bucket_ad, SEAL_DRAW, PII, surrogate)
    with pytest.raises(UnicodeEncodeError):
        _format.seal_record(AESGCM(BUCKET_KEY), bucket_ad, SEAL_DRAW, PII, surrogate)

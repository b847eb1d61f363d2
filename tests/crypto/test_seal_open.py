"""Sealing and opening records: round trips, tampering, records and clients swapped."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import DecryptError, InvalidValueError, PiiVault, RecordRef, Sealed
from tests.fixtures.keystore import DAY, SqliteKeystore, VaultFactory

ORDER_A = RecordRef("acme", "amazon", "302-0000001-0000001", 1)
ORDER_B = RecordRef("acme", "amazon", "302-0000002-0000002", 1)
OTHER_CLIENT_A = RecordRef("globex", "amazon", "302-0000001-0000001", 1)
PII = b'{"name":"Erika Mustermann","email":"erika@example.com"}'

# Hypothesis re-runs the body with the same function-scoped vault; that is the point.
REUSE_FIXTURES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def vault(sqlite_keystore: SqliteKeystore, make_vault: VaultFactory) -> PiiVault:
    return make_vault(sqlite_keystore.keystore)


def _flip_bit(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def _open_fails(vault: PiiVault, record: RecordRef, ciphertext: bytes, wrapped: bytes) -> None:
    with pytest.raises(DecryptError) as caught:
        vault.open(record, ciphertext, wrapped)
    # One type, one message, and no chained exception that would say why.
    assert str(caught.value) == str(DecryptError())
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


@REUSE_FIXTURES
@given(pii=st.binary(max_size=4096))
def test_any_bytes_round_trip(vault: PiiVault, pii: bytes) -> None:
    sealed = vault.seal(ORDER_A, pii, DAY)
    assert vault.open(ORDER_A, sealed.ciphertext, sealed.wrapped_key) == pii


@REUSE_FIXTURES
@given(
    client_id=st.text(min_size=1, max_size=64).filter(lambda s: "\0" not in s),
    marketplace=st.text(min_size=1, max_size=16).filter(lambda s: "\0" not in s),
    record_id=st.text(min_size=1, max_size=64).filter(lambda s: "\0" not in s),
    schema_version=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_any_record_identity_round_trips(
    vault: PiiVault, client_id: str, marketplace: str, record_id: str, schema_version: int
) -> None:
    record = RecordRef(client_id, marketplace, record_id, schema_version)
    sealed = vault.seal(record, PII, DAY)
    assert vault.open(record, sealed.ciphertext, sealed.wrapped_key) == PII


def test_seal_reports_the_bucket_and_hides_bytes_in_repr(vault: PiiVault) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    assert sealed.bucket_day == DAY
    assert len(sealed.bucket_key_id) == 32
    assert sealed.wrapped_key[1:17].hex() == sealed.bucket_key_id
    assert "bytes>" in repr(sealed)
    assert sealed.ciphertext.hex() not in repr(sealed)


def test_each_seal_uses_a_fresh_data_key_and_nonce(vault: PiiVault) -> None:
    first, second = vault.seal(ORDER_A, PII, DAY), vault.seal(ORDER_A, PII, DAY)
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key
    assert first.bucket_key_id == second.bucket_key_id


@REUSE_FIXTURES
@given(data=st.data())
def test_flipping_any_bit_of_the_ciphertext_fails(vault: PiiVault, data: st.DataObject) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    # Covers the version byte (bit < 8), the nonce (bits 8..103) and the body and tag.
    bit = data.draw(st.integers(0, len(sealed.ciphertext) * 8 - 1))
    _open_fails(vault, ORDER_A, _flip_bit(sealed.ciphertext, bit), sealed.wrapped_key)


@REUSE_FIXTURES
@given(data=st.data())
def test_flipping_any_bit_of_the_wrapped_key_fails(vault: PiiVault, data: st.DataObject) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    bit = data.draw(st.integers(0, len(sealed.wrapped_key) * 8 - 1))
    _open_fails(vault, ORDER_A, sealed.ciphertext, _flip_bit(sealed.wrapped_key, bit))


@pytest.mark.parametrize(
    ("part", "region"),
    [
        ("ciphertext", slice(0, 1)),  # version byte
        ("ciphertext", slice(1, 13)),  # nonce
        ("wrapped_key", slice(0, 1)),  # version byte
        ("wrapped_key", slice(1, 17)),  # bucket key_id
        ("wrapped_key", slice(17, 29)),  # nonce
    ],
)
def test_every_bit_of_headers_and_nonces_is_authenticated(
    vault: PiiVault, part: str, region: slice
) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    for bit in range(region.start * 8, region.stop * 8):
        ciphertext, wrapped = sealed.ciphertext, sealed.wrapped_key
        if part == "ciphertext":
            ciphertext = _flip_bit(ciphertext, bit)
        else:
            wrapped = _flip_bit(wrapped, bit)
        _open_fails(vault, ORDER_A, ciphertext, wrapped)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: (s.ciphertext[:-1], s.wrapped_key),
        lambda s: (s.ciphertext[:28], s.wrapped_key),
        lambda s: (b"", s.wrapped_key),
        lambda s: (s.ciphertext + b"\0", s.wrapped_key),
        lambda s: (s.ciphertext, s.wrapped_key[:-1]),
        lambda s: (s.ciphertext, s.wrapped_key + b"\0"),
        lambda s: (s.ciphertext, b""),
        lambda s: (b"\x02" + s.ciphertext[1:], s.wrapped_key),  # unknown format version
        lambda s: (s.ciphertext, b"\x02" + s.wrapped_key[1:]),
    ],
)
def test_truncated_extended_or_unknown_versions_fail(vault: PiiVault, mangle: object) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    ciphertext, wrapped = mangle(sealed)  # type: ignore[operator]
    _open_fails(vault, ORDER_A, ciphertext, wrapped)


@pytest.mark.parametrize(
    "other",
    [
        ORDER_B,  # another order of the same client
        OTHER_CLIENT_A,  # the same order id at another client
        RecordRef("acme", "ebay", "302-0000001-0000001", 1),  # another marketplace
        RecordRef("acme", "amazon", "302-0000001-0000001", 2),  # another schema version
    ],
)
def test_sealed_record_moved_to_another_record_fails(vault: PiiVault, other: RecordRef) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    _open_fails(vault, other, sealed.ciphertext, sealed.wrapped_key)


def test_ciphertexts_or_wrapped_keys_swapped_between_two_orders_fail(vault: PiiVault) -> None:
    a, b = vault.seal(ORDER_A, PII, DAY), vault.seal(ORDER_B, PII, DAY)
    _open_fails(vault, ORDER_A, b.ciphertext, a.wrapped_key)
    _open_fails(vault, ORDER_A, a.ciphertext, b.wrapped_key)
    _open_fails(vault, ORDER_A, b.ciphertext, b.wrapped_key)
    assert vault.open(ORDER_B, b.ciphertext, b.wrapped_key) == PII


def test_ciphertexts_or_wrapped_keys_swapped_between_two_clients_fail(vault: PiiVault) -> None:
    a, other = vault.seal(ORDER_A, PII, DAY), vault.seal(OTHER_CLIENT_A, PII, DAY)
    assert a.bucket_key_id != other.bucket_key_id  # one bucket per (client, day)
    _open_fails(vault, ORDER_A, other.ciphertext, a.wrapped_key)
    _open_fails(vault, ORDER_A, a.ciphertext, other.wrapped_key)
    _open_fails(vault, ORDER_A, other.ciphertext, other.wrapped_key)
    _open_fails(vault, OTHER_CLIENT_A, a.ciphertext, a.wrapped_key)


def test_wrapped_key_naming_an_unknown_bucket_fails(vault: PiiVault) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    unknown = sealed.wrapped_key[:1] + bytes(16) + sealed.wrapped_key[17:]
    _open_fails(vault, ORDER_A, sealed.ciphertext, unknown)


def test_rewrap_moves_the_data_key_and_keeps_the_ciphertext(vault: PiiVault) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    later = date(2026, 5, 7)
    moved = vault.rewrap(ORDER_A, sealed.wrapped_key, later)
    assert moved.bucket_day == later
    assert moved.bucket_key_id != sealed.bucket_key_id
    assert vault.open(ORDER_A, sealed.ciphertext, moved.wrapped_key) == PII
    assert "bytes>" in repr(moved)


def test_rewrap_refuses_another_records_key(vault: PiiVault) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    with pytest.raises(DecryptError):
        vault.rewrap(ORDER_B, sealed.wrapped_key, date(2026, 5, 7))


def test_a_key_rewrapped_for_one_order_does_not_open_another(vault: PiiVault) -> None:
    a, b = vault.seal(ORDER_A, PII, DAY), vault.seal(ORDER_B, PII, DAY)
    moved_a = vault.rewrap(ORDER_A, a.wrapped_key, date(2026, 5, 7))
    _open_fails(vault, ORDER_B, b.ciphertext, moved_a.wrapped_key)


@pytest.mark.parametrize(
    "fields",
    [
        ("", "amazon", "1", 1),
        ("acme", "", "1", 1),
        ("acme", "amazon", "", 1),
        ("ac\0me", "amazon", "1", 1),
        ("acme", "amazon", "1\0", 1),
        ("acme", "amazon", "1", -1),
        ("acme", "amazon", "1", "1"),
        ("x" * 65, "amazon", "1", 1),
        (1, "amazon", "1", 1),
    ],
)
def test_malformed_record_refs_are_refused(fields: tuple[object, ...]) -> None:
    with pytest.raises(InvalidValueError):
        RecordRef(*fields)  # type: ignore[arg-type]


def test_seal_takes_only_a_record_ref(vault: PiiVault) -> None:
    with pytest.raises(InvalidValueError):
        vault.seal(("acme", "amazon", "1", 1), PII, DAY)  # type: ignore[arg-type]


def test_sealed_is_what_the_caller_stores(vault: PiiVault) -> None:
    sealed = vault.seal(ORDER_A, PII, DAY)
    stored = Sealed(*sealed)  # the four columns read back from the row
    assert vault.open(ORDER_A, stored.ciphertext, stored.wrapped_key) == PII

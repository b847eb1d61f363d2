"""The ingest path's faster helpers give exactly what the simpler code they replaced gave.

Stored digests must keep matching data-subject searches, and expiry days must not move: each
helper is compared with its reference, written here as it was before.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.order import Order
from crypto import InvalidValueError
from crypto.blind_index import IndexKey, normalize_email
from pipeline.expiry import FALLBACK_DELIVERY_DAYS, expiry_day, expiry_days
from pipeline.ingest import blind_index_entries
from tests.factories import make_order, orders

_when = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
)


def _reference_expiry_day(
    order: Order, *, retention_days: int, max_undelivered_days: int, now: datetime | None
) -> date:
    done = order.delivered_at or order.cancelled_at
    if done is not None:
        return (done + timedelta(days=retention_days)).date()
    promised = order.latest_delivery_by or order.purchased_at + timedelta(
        days=FALLBACK_DELIVERY_DAYS
    )
    estimate = (promised + timedelta(days=retention_days)).date()
    if now is not None and estimate <= now.date() + timedelta(days=1):
        estimate = max(estimate, (now + timedelta(days=retention_days)).date())
    cap = (order.purchased_at + timedelta(days=max_undelivered_days)).date()
    return min(estimate, cap)


@given(
    st.lists(orders, max_size=4),
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=0, max_value=400),
    st.none() | _when,
)
def test_expiry_days_equal_the_reference_per_order(
    page: list[Order], retention_days: int, max_undelivered_days: int, now: datetime | None
) -> None:
    rule = {"retention_days": retention_days, "max_undelivered_days": max_undelivered_days}
    expected = [_reference_expiry_day(order, **rule, now=now) for order in page]
    assert expiry_days(page, **rule, now=now) == expected
    assert [expiry_day(order, **rule, now=now) for order in page] == expected


def _reference_normalize_email(address: str) -> str:
    text = unicodedata.normalize("NFKC", address).strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in text):
        raise InvalidValueError("not an email address")
    domain = domain.rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidValueError("email domain is not a valid host name") from None
    return f"{local.lower()}@{domain}"


_label = st.text(alphabet="abcXYZ09-", max_size=70)
_domains = st.lists(_label, min_size=1, max_size=4).map(".".join) | st.text(max_size=20)


@given(st.text(alphabet="aB.+_-", min_size=1, max_size=8), _domains, st.sampled_from(["", "."]))
def test_normalize_email_equals_the_idna_codec_reference(
    local: str, domain: str, trailing: str
) -> None:
    address = f"{local}@{domain}{trailing}"
    try:
        expected = _reference_normalize_email(address)
    except InvalidValueError:
        with pytest.raises(InvalidValueError):
            normalize_email(address)
        return
    assert normalize_email(address) == expected


_LABEL = b"ordervault/blind-index/v1\0"


def test_index_key_digests_equal_one_hmac_per_value() -> None:
    raw = bytes(range(32))
    key = IndexKey("acme", raw)
    # More kinds than the key remembers labelled states for: the rest are labelled per call.
    kinds = [f"kind{n}" for n in range(80)] + ["email", "content", "email"]
    for kind in kinds:
        for value in (b"", b"erika@example.invalid", "Grüße".encode()):
            expected = hmac.new(raw, _LABEL + kind.encode() + b"\0" + value, hashlib.sha256)
            assert key.digest(kind, value) == expected.hexdigest()


class _RecordingVault:
    """Stands in for PiiVault.blind_index: a readable digest, or refusal for bad phones."""

    def blind_index(self, client_id: str, kind: str, value: str) -> str:
        if kind == "phone" and not any(c.isdigit() for c in value):
            raise InvalidValueError("not a phone number")
        return f"{client_id}/{kind}/{value.strip().lower()}"


def _reference_entries(vault: _RecordingVault, order: Order) -> Iterator[tuple[str, str]]:
    buyer, address = order.buyer, order.shipping_address
    values: list[tuple[str, str | None]] = []
    if buyer is not None:
        values += [
            ("email", buyer.email),
            ("buyer_id", buyer.marketplace_buyer_id),
            ("username", buyer.username),
            ("eias_token", buyer.eias_token),
            ("phone", buyer.phone),
        ]
    if address is not None:
        values.append(("phone", address.phone))
    seen: set[tuple[str, str]] = set()
    for kind, value in values:
        if not value:
            continue
        try:
            entry = (kind, vault.blind_index(order.client_id, kind, value))
        except InvalidValueError:
            continue
        if entry not in seen:
            seen.add(entry)
            yield entry


@given(orders)
def test_blind_index_entries_equal_the_reference(order: Order) -> None:
    vault = _RecordingVault()
    expected = tuple(_reference_entries(vault, order))
    assert blind_index_entries(vault, order) == expected  # type: ignore[arg-type]


def test_two_phones_that_normalise_alike_are_indexed_once() -> None:
    order = make_order()
    assert order.buyer is not None
    assert order.shipping_address is not None
    same = order.model_copy(
        update={"buyer": order.buyer.model_copy(update={"phone": order.shipping_address.phone})}
    )
    entries = blind_index_entries(_RecordingVault(), same)  # type: ignore[arg-type]
    assert [kind for kind, _ in entries].count("phone") == 1

"""Data-subject export and erasure: found through the blind index, audited with the operator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.order import Buyer, Marketplace
from pipeline.clients import ClientConfig
from pipeline.dsar import EXPORT_FORMAT, DsarError, IdentifierKind, Subject, erase, export
from pipeline.ingest import Ingestor
from tests.factories import make_order
from tests.fixtures.runtime import Deployment
from tests.retention.helpers import audit_events, audit_text, order_row, readable, store

EMAIL = "Subject.Zqxjw@Example.invalid"
OTHER_EMAIL = "someone.else@example.invalid"
EIAS = "nY+sHZ2PrBmdj6wVnY+sEZ2PrA2dj6wFk4GlDpSEowydj6x9nY+seQ=="


@pytest.fixture
def orders(deployment: Deployment) -> dict[str, int]:
    buyer = Buyer(name="Subject Buyer", email=EMAIL)
    ids = {
        "a1": store(deployment, "0000001", buyer=buyer),
        # Same person, email spelled differently: the blind index normalises it.
        "a2": store(deployment, "0000002", buyer=buyer.model_copy(update={"email": EMAIL.lower()})),
        "ebay": store(
            deployment,
            "0000003",
            marketplace=Marketplace.EBAY,
            account="acme-ebay",
            buyer=Buyer(name="Subject Buyer", username="zqxjw_buyer", eias_token=EIAS),
        ),
        "other": store(deployment, "0000004", buyer=Buyer(name="Other", email=OTHER_EMAIL)),
    }
    globex = ClientConfig.model_validate({"id": "globex", "name": "Globex"})
    ids["globex"] = (
        Ingestor(deployment.runtime)
        .store(globex, make_order(client_id="globex", buyer=buyer))
        .order_id
    )
    return ids


def test_erase_makes_the_buyers_orders_unreadable_at_once(
    deployment: Deployment, orders: dict[str, int]
) -> None:
    report = erase(
        deployment.runtime, "acme", Subject(IdentifierKind.EMAIL, EMAIL), operator="alice"
    )
    assert report.order_ids == sorted([orders["a1"], orders["a2"]])
    for key in ("a1", "a2"):
        assert not readable(deployment, orders[key])
        row = order_row(deployment, orders[key])
        assert (row.pii_ciphertext, row.wrapped_data_key) == (None, None)
        assert row.shred_reason == "erased"
    for key in ("ebay", "other", "globex"):
        assert readable(deployment, orders[key])
    (event,) = audit_events(deployment, "erase")
    assert event.actor == "operator:alice"
    assert event.subject == {"order_ids": report.order_ids}
    assert "zqxjw" not in audit_text(deployment).lower()

    again = erase(
        deployment.runtime, "acme", Subject(IdentifierKind.EMAIL, EMAIL), operator="alice"
    )
    assert again.order_ids == []


def test_export_writes_exactly_the_buyers_orders_to_a_private_file(
    deployment: Deployment, orders: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "export.json"
    report = export(
        deployment.runtime,
        "acme",
        Subject(IdentifierKind.EMAIL, EMAIL),
        operator="bob",
        out=out,
    )
    assert report.order_ids == sorted([orders["a1"], orders["a2"]])
    assert out.stat().st_mode & 0o777 == 0o600
    document = json.loads(out.read_text())
    assert document["format"] == EXPORT_FORMAT
    assert [o["order_id"] for o in document["orders"]] == report.order_ids
    assert {o["order"]["buyer"]["email"].lower() for o in document["orders"]} == {EMAIL.lower()}
    decrypts = [e for e in audit_events(deployment, "decrypt") if e.actor == "operator:bob"]
    assert sorted(e.subject["order_id"] for e in decrypts) == report.order_ids
    assert {e.details["purpose"] for e in decrypts} == {"dsar_export"}
    (event,) = audit_events(deployment, "dsar_export")
    assert event.actor == "operator:bob"
    assert "zqxjw" not in audit_text(deployment).lower()


def test_buyer_id_matches_ebay_eias_token_and_username(
    deployment: Deployment, orders: dict[str, int], tmp_path: Path
) -> None:
    for value in (EIAS, "zqxjw_buyer"):
        report = export(
            deployment.runtime,
            "acme",
            Subject(IdentifierKind.BUYER_ID, value),
            operator="bob",
            out=tmp_path / "x.json",
        )
        assert report.order_ids == [orders["ebay"]]


def test_unknown_client_and_bad_operator_are_refused(
    deployment: Deployment, orders: dict[str, int]
) -> None:
    subject = Subject(IdentifierKind.EMAIL, EMAIL)
    with pytest.raises(DsarError):
        erase(deployment.runtime, "nobody", subject, operator="alice")
    with pytest.raises(DsarError):
        erase(deployment.runtime, "acme", subject, operator="\x1b[31m")
    assert EMAIL not in repr(subject)
    assert readable(deployment, orders["a1"])

"""The audit report's numbers, computed from a deployment with a known history."""

from __future__ import annotations

import json
from datetime import date

import jsonschema
import pytest
import sqlalchemy as sa

from pipeline.clients import ORDER_PII_PATHS
from pipeline.report import SCHEMA_PATH, ReportError, Scope, compute_report, render
from storage.models import AuditEvent
from tests.fixtures.runtime import Deployment
from tests.report.scenario import REPORT_NOW, SUBJECT_EMAIL, build_history


def _validate(document: dict[str, object]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)


def test_report_numbers_match_the_history(deployment: Deployment) -> None:
    history = build_history(deployment)
    report = compute_report(deployment.runtime, Scope.make(REPORT_NOW))
    document = json.loads(render(report, "json"))
    _validate(document)

    assert document["period"] == {"since": "2026-09-06", "until": "2026-10-05"}
    assert document["clients"] == ["acme"]
    orders = document["orders"]
    assert orders["total"] == 10
    assert orders["shredded"] == 5
    assert orders["holding_pii"] == orders["sealed"] == orders["with_readable_pii"] == 5
    assert orders["pii_sealed_ratio"] == 1.0
    assert orders["shredded_by_reason"] == [
        {"label": "erased", "count": 1},
        {"label": "retention", "count": 4},
    ]
    retention = document["retention"]
    assert retention["overdue_readable"] == 0
    # The oldest readable order was delivered 2026-09-10 12:00, 25 days before the report.
    assert retention["max_age_after_delivery_days"] == 25.0
    ages = {bar["label"]: bar["count"] for bar in retention["age_after_delivery_days"]}
    assert (ages["25"], ages["15"], sum(ages.values())) == (3, 2, 5)
    assert retention["legal_basis_exceptions"] == []
    assert document["non_pii"]["older_than_18_months"] == 0

    keys = document["keys"]
    assert (keys["active"], keys["destroyed"]) == (2, 1)
    (destroyed,) = keys["destroyed_in_period"]
    stored = deployment.runtime.keystore.bucket_for_day("acme", history.destroyed_day)
    assert stored is not None
    assert destroyed == {
        "client_id": "acme",
        "day": "2026-10-01",
        "key_id": stored.key_id,
        "commitment": stored.commitment,
        "destroyed_at": "2026-10-02T00:00:00Z",
        "orders": 4,
        "reason": "retention",
    }
    per_day = {bar["label"]: bar["count"] for bar in keys["destroyed_per_day"]}
    assert per_day["2026-10-02"] == 1
    assert sum(per_day.values()) == 1
    assert len(per_day) == 30
    assert keys["next_destruction_day"] == "2026-10-10"
    assert keys["root_provider"] == "local"

    decrypts = document["decrypts"]
    assert decrypts["total"] == 3
    assert decrypts["by_purpose"] == [
        {"label": "forward", "count": 1},
        {"label": "support", "count": 2},
    ]
    assert {"purpose": "support", "actor": "operator:bob", "outcome": "ok", "count": 2} in (
        decrypts["by_actor"]
    )
    (erasure,) = document["erasures"]
    assert erasure == {
        "occurred_at": "2026-09-25T09:00:00Z",
        "client_id": "acme",
        "kind": "erase",
        "actor": "operator:alice",
        "orders": 1,
    }
    assert {"actor": "operator:alice", "action": "erase", "count": 1} in document["operators"]
    assert document["destinations"] == [
        {"client_id": "acme", "name": "erp", "type": "webhook", "transport": "https, TLS>=1.2"}
    ]
    (fields,) = document["pii_fields"]
    assert fields["held"] == sorted(ORDER_PII_PATHS)
    assert fields["dropped"] == []

    with deployment.runtime.sessions() as session:
        events = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert document["audit_log"]["events"] == events
    assert document["audit_log"]["chain_valid"] is True
    assert document["leak_scan"]["findings"] == 0
    assert document["passed"] is True
    for fmt in ("json", "md", "html"):
        assert SUBJECT_EMAIL not in render(report, fmt).lower()
    assert len(history.living) == 5


def test_a_broken_chain_and_overdue_pii_fail_their_checks(deployment: Deployment) -> None:
    build_history(deployment)
    with deployment.runtime.sessions.begin() as session:
        session.execute(
            sa.update(AuditEvent).where(AuditEvent.id == 2).values(actor="operator:mallory")
        )
    # Ten days later, without the expiry run: the 2026-10-10 bucket is overdue.
    deployment.clock.advance(days=10)
    report = compute_report(deployment.runtime, Scope.make(deployment.clock.now))
    assert report.audit_log.chain_valid is False
    assert report.audit_log.first_bad_id == 2
    assert report.retention.overdue_readable == 3
    failed = {check.id for check in report.checks if not check.passed}
    assert failed == {"audit_log.chain_valid", "retention.overdue_readable"}
    assert report.passed is False
    _validate(report.to_json())


def test_markdown_carries_the_same_numbers(deployment: Deployment) -> None:
    build_history(deployment)
    report = compute_report(deployment.runtime, Scope.make(REPORT_NOW, client_id="acme"))
    text = render(report, "md")
    assert "| Orders stored | 10 |  | `orders.total` |" in text
    assert "| Readable PII past its window | 0 | 0 | `retention.overdue_readable` |" in text
    assert "| support | operator:bob | ok | 2 |" in text


def test_scope_errors() -> None:
    with pytest.raises(ReportError):
        Scope.make(REPORT_NOW, since=date(2026, 10, 6), until=date(2026, 10, 5))


def test_unknown_client_is_refused(deployment: Deployment) -> None:
    with pytest.raises(ReportError, match="no client 'nobody'"):
        compute_report(deployment.runtime, Scope.make(REPORT_NOW, client_id="nobody"))

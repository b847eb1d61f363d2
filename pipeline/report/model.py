"""The audit report's content: plain, frozen values, computed by `compute` and shown by `render`.

`AuditReport.to_json()` is the document `--format json` writes; it follows
`pipeline/schemas/audit-report.schema.json`. Nothing here holds PII: orders are counted, keys
are named by day, id and commitment, actors by their audit-log name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

__all__ = [
    "FORMAT",
    "AuditLogSection",
    "AuditReport",
    "Check",
    "ClientRetention",
    "Count",
    "DecryptCount",
    "DecryptsSection",
    "DestinationTransport",
    "DestroyedKey",
    "Erasure",
    "KeysSection",
    "LeakScanSection",
    "NonPiiSection",
    "OperatorAction",
    "OrdersSection",
    "PiiFields",
    "RetentionSection",
    "RootRotation",
]

FORMAT = "ordervault.audit-report/1"


@dataclass(frozen=True)
class Count:
    """One bar of a chart: a label (a day, a purpose, an age in days) and how many."""

    label: str
    count: int


@dataclass(frozen=True)
class OrdersSection:
    total: int
    holding_pii: int
    sealed: int
    with_readable_pii: int
    shredded: int
    pii_sealed_ratio: float
    shredded_by_reason: list[Count]


@dataclass(frozen=True)
class ClientRetention:
    client_id: str
    retention_days: int
    legal_basis: str | None
    marketplaces: list[str]


@dataclass(frozen=True)
class RetentionSection:
    overdue_readable: int
    max_age_after_delivery_days: float | None
    # Orders with readable PII by whole days since delivery (or cancellation).
    age_after_delivery_days: list[Count]
    clients: list[ClientRetention]
    legal_basis_exceptions: list[ClientRetention]


@dataclass(frozen=True)
class NonPiiSection:
    cutoff: datetime
    older_than_18_months: int
    # Older, but PII still held under a legal basis: goes with its bucket, listed here.
    kept_with_pii_older_than_18_months: int


@dataclass(frozen=True)
class DestroyedKey:
    client_id: str
    day: date
    key_id: str
    commitment: str | None
    destroyed_at: datetime
    orders: int
    reason: str | None


@dataclass(frozen=True)
class RootRotation:
    started_at: datetime
    finished_at: datetime | None
    from_root_key_id: str
    to_root_key_id: str
    state: str


@dataclass(frozen=True)
class KeysSection:
    active: int
    destroyed: int
    index_keys: int
    destroyed_in_period: list[DestroyedKey]
    destroyed_per_day: list[Count]
    next_destruction_day: date | None
    root_provider: str
    root_key_ids: list[str]
    rotations: list[RootRotation]
    algorithms: dict[str, str]


@dataclass(frozen=True)
class DecryptCount:
    purpose: str
    actor: str
    outcome: str
    count: int


@dataclass(frozen=True)
class DecryptsSection:
    total: int
    by_purpose: list[Count]
    by_actor: list[DecryptCount]
    alarms: int


@dataclass(frozen=True)
class Erasure:
    occurred_at: datetime
    client_id: str | None
    kind: str
    actor: str
    orders: int


@dataclass(frozen=True)
class OperatorAction:
    actor: str
    action: str
    count: int


@dataclass(frozen=True)
class DestinationTransport:
    client_id: str
    name: str
    type: str
    transport: str


@dataclass(frozen=True)
class PiiFields:
    client_id: str
    held: list[str]
    dropped: list[str]


@dataclass(frozen=True)
class AuditLogSection:
    events: int
    events_in_period: int
    chain_valid: bool
    checked: int
    first_bad_id: int | None
    problem: str | None
    head_id: int | None
    head_hash: str | None


@dataclass(frozen=True)
class LeakScanSection:
    findings: int
    by_source: list[Count]
    by_kind: list[Count]
    rows_scanned: int
    log_files: int
    log_lines_scanned: int
    not_scanned: list[str]


@dataclass(frozen=True)
class Check:
    """One "must" of the DPP table, evaluated: the rule, the measured value, pass or fail."""

    id: str
    section: str
    rule: str
    value: str
    passed: bool


@dataclass(frozen=True)
class AuditReport:
    generated_at: datetime
    since: date
    until: date
    clients: list[str]
    orders: OrdersSection
    retention: RetentionSection
    non_pii: NonPiiSection
    keys: KeysSection
    decrypts: DecryptsSection
    erasures: list[Erasure]
    operators: list[OperatorAction]
    destinations: list[DestinationTransport]
    pii_fields: list[PiiFields]
    audit_log: AuditLogSection
    leak_scan: LeakScanSection
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        body = _plain(dataclasses.asdict(self))
        assert isinstance(body, dict)
        return {
            "format": FORMAT,
            "generated_at": body.pop("generated_at"),
            "period": {"since": body.pop("since"), "until": body.pop("until")},
            "passed": self.passed,
            **body,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value

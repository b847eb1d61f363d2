"""The report as rows: the one list of sections both the HTML and the Markdown renderers show.

Each headline number carries its JSON path as an id (`orders.total`), so a reader, a test or a
browser can find the same number in every format.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.report.model import AuditReport

__all__ = ["Headline", "Table", "headlines", "tables"]


@dataclass(frozen=True)
class Headline:
    metric: str
    label: str
    value: str
    must: str | None = None
    # None: informational; otherwise whether the "must" holds, decided on the numbers.
    passed: bool | None = None


@dataclass(frozen=True)
class Table:
    title: str
    section: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def headlines(report: AuditReport) -> list[Headline]:
    r = report
    passed = {check.id: check.passed for check in r.checks}

    def must(metric: str, label: str, value: str, required: str) -> Headline:
        return Headline(metric, label, value, required, passed.get(metric))

    return [
        Headline("orders.total", "Orders stored", str(r.orders.total)),
        Headline(
            "orders.with_readable_pii", "Orders with readable PII", str(r.orders.with_readable_pii)
        ),
        must("orders.pii_sealed_ratio", "PII sealed", f"{r.orders.pii_sealed_ratio:.2%}", "100%"),
        must(
            "retention.overdue_readable",
            "Readable PII past its window",
            str(r.retention.overdue_readable),
            "0",
        ),
        Headline(
            "retention.max_age_after_delivery_days",
            "Oldest PII after delivery (days)",
            _days(r.retention.max_age_after_delivery_days),
        ),
        Headline("keys.active", "Bucket keys active", str(r.keys.active)),
        Headline("keys.destroyed", "Bucket keys destroyed", str(r.keys.destroyed)),
        must(
            "non_pii.older_than_18_months",
            "Order rows older than 18 months",
            str(r.non_pii.older_than_18_months),
            "0",
        ),
        Headline("decrypts.total", "Decrypts in period", str(r.decrypts.total)),
        Headline("audit_log.events", "Audit events", str(r.audit_log.events)),
        must(
            "audit_log.chain_valid",
            "Audit chain",
            "valid" if r.audit_log.chain_valid else "BROKEN",
            "valid",
        ),
        must("leak_scan.findings", "Leak-scan findings", str(r.leak_scan.findings), "0"),
    ]


def tables(report: AuditReport) -> list[Table]:
    r = report
    none = ("-",)
    return [
        Table(
            "Checks",
            "1.5-2.6",
            ("DPP §", "rule", "value", "result"),
            [(c.section, c.rule, c.value, "pass" if c.passed else "FAIL") for c in r.checks],
        ),
        Table(
            "Retention per client",
            "2.1",
            ("client", "days after delivery", "legal basis", "marketplaces"),
            [
                (
                    c.client_id,
                    str(c.retention_days),
                    c.legal_basis or "-",
                    ", ".join(c.marketplaces),
                )
                for c in r.retention.clients
            ],
        ),
        Table(
            "Legal-basis exceptions",
            "2.1",
            ("client", "days after delivery", "legal basis"),
            [
                (c.client_id, str(c.retention_days), c.legal_basis or "-")
                for c in r.retention.legal_basis_exceptions
            ],
        ),
        Table(
            "Keys destroyed in the period",
            "2.1",
            ("client", "expiry day", "destroyed at", "orders", "reason", "commitment"),
            [
                (
                    k.client_id,
                    k.day.isoformat(),
                    k.destroyed_at.isoformat(timespec="seconds"),
                    str(k.orders),
                    k.reason or "-",
                    k.commitment or "-",
                )
                for k in r.keys.destroyed_in_period
            ],
        ),
        Table(
            "Shredded orders by reason",
            "2.1, 1.7",
            ("reason", "orders"),
            [(c.label, str(c.count)) for c in r.orders.shredded_by_reason],
        ),
        Table(
            "Erasures",
            "1.7",
            ("when", "client", "kind", "operator", "orders"),
            [
                (
                    e.occurred_at.isoformat(timespec="seconds"),
                    e.client_id or "-",
                    e.kind,
                    e.actor,
                    str(e.orders),
                )
                for e in r.erasures
            ],
        ),
        Table(
            "Encryption and keys",
            "2.4",
            ("item", "value"),
            [
                ("root key provider", r.keys.root_provider),
                ("root key ids in use", ", ".join(r.keys.root_key_ids) or "-"),
                ("index keys", str(r.keys.index_keys)),
                (
                    "next key destruction",
                    r.keys.next_destruction_day.isoformat() if r.keys.next_destruction_day else "-",
                ),
                *(
                    (f"algorithm: {name}", value)
                    for name, value in sorted(r.keys.algorithms.items())
                ),
            ],
        ),
        Table(
            "Root key rotations",
            "2.4",
            ("started", "finished", "from", "to", "state"),
            [
                (
                    x.started_at.isoformat(timespec="seconds"),
                    x.finished_at.isoformat(timespec="seconds") if x.finished_at else "-",
                    x.from_root_key_id,
                    x.to_root_key_id,
                    x.state,
                )
                for x in r.keys.rotations
            ],
        ),
        Table(
            "Destinations",
            "1.5",
            ("client", "destination", "type", "transport"),
            [(d.client_id, d.name, d.type, d.transport) for d in r.destinations],
        ),
        Table(
            "Decrypts by purpose and actor",
            "2.6",
            ("purpose", "actor", "outcome", "count"),
            [(d.purpose, d.actor, d.outcome, str(d.count)) for d in r.decrypts.by_actor],
        ),
        Table(
            "Actions by operator",
            "1.2-1.4",
            ("operator", "action", "count"),
            [(o.actor, o.action, str(o.count)) for o in r.operators],
        ),
        Table(
            "Audit log",
            "2.6",
            ("item", "value"),
            [
                ("events (whole chain)", str(r.audit_log.events)),
                ("events in period", str(r.audit_log.events_in_period)),
                (
                    "chain",
                    "valid"
                    if r.audit_log.chain_valid
                    else f"broken at {r.audit_log.first_bad_id}: {r.audit_log.problem}",
                ),
                ("head id", str(r.audit_log.head_id or "-")),
                ("head hash (keep a copy)", r.audit_log.head_hash or "-"),
                ("decrypt-rate alarms in period", str(r.decrypts.alarms)),
            ],
        ),
        Table(
            "Leak scan",
            "2.6",
            ("item", "value"),
            [
                ("findings", str(r.leak_scan.findings)),
                *((f"findings in {c.label}", str(c.count)) for c in r.leak_scan.by_source),
                *((f"findings of kind {c.label}", str(c.count)) for c in r.leak_scan.by_kind),
                ("rows scanned", str(r.leak_scan.rows_scanned)),
                (
                    "log files / lines scanned",
                    f"{r.leak_scan.log_files} / {r.leak_scan.log_lines_scanned}",
                ),
                *(("not scanned", item) for item in r.leak_scan.not_scanned),
            ],
        ),
        Table(
            "PII fields held per client",
            "AUP 3.8",
            ("client", "held", "dropped"),
            [(p.client_id, ", ".join(p.held), ", ".join(p.dropped) or "-") for p in r.pii_fields]
            or [none * 3],
        ),
    ]

"""Compute the audit report from the data: the order rows, the key store, the audit log, the
config and a leak scan. Nothing is typed in; every number is counted at `scope.now`."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import sessionmaker

from pipeline.clients import ORDER_PII_PATHS, ClientConfig
from pipeline.destinations.factory import build_destination
from pipeline.leak_scan import LeakScanReport, scan
from pipeline.report.events import (
    audit_log_section,
    decrypts_section,
    erasures,
    operator_actions,
)
from pipeline.report.keys import active_buckets, keys_section
from pipeline.report.model import (
    AuditReport,
    Check,
    Count,
    DestinationTransport,
    LeakScanSection,
    PiiFields,
)
from pipeline.report.orders import non_pii_section, orders_section, retention_section
from pipeline.report.scope import ReportError, Scope
from pipeline.runtime import Runtime

__all__ = ["compute_report"]


def compute_report(runtime: Runtime, scope: Scope) -> AuditReport:
    """The report for `scope`; ReportError if its client is not configured."""
    clients = runtime.config.clients
    if scope.client_id is not None and scope.client_id not in clients:
        known = ", ".join(sorted(clients)) or "none"
        raise ReportError(f"no client {scope.client_id!r} in the configuration (known: {known})")
    in_scope = [clients[c] for c in scope.clients(list(clients))]
    keystore_sessions = sessionmaker(runtime.keystore_engine)
    with keystore_sessions() as keystore, runtime.sessions() as data:
        live = active_buckets(keystore, scope)
        orders = orders_section(data, scope, live)
        retention = retention_section(data, scope, clients)
        non_pii = non_pii_section(data, scope)
        keys = keys_section(keystore, data, scope, runtime.config.settings.kms.provider)
        decrypts = decrypts_section(data, scope)
        erased = erasures(data, scope)
        operators = operator_actions(data, scope)
        audit_log = audit_log_section(data, scope)
    leaks = leak_scan_section(scan(runtime, client_id=scope.client_id))
    destinations = destination_transports(in_scope)
    report = AuditReport(
        generated_at=scope.now,
        since=scope.since,
        until=scope.until,
        clients=[c.id for c in in_scope],
        orders=orders,
        retention=retention,
        non_pii=non_pii,
        keys=keys,
        decrypts=decrypts,
        erasures=erased,
        operators=operators,
        destinations=destinations,
        pii_fields=pii_fields(in_scope),
        audit_log=audit_log,
        leak_scan=leaks,
        checks=[],
    )
    return AuditReport(**{**report.__dict__, "checks": checks(report)})


def leak_scan_section(result: LeakScanReport) -> LeakScanSection:
    return LeakScanSection(
        findings=len(result.findings),
        by_source=[Count(k, n) for k, n in result.count_by("source").items()],
        by_kind=[Count(k, n) for k, n in result.count_by("kind").items()],
        rows_scanned=result.rows_scanned,
        log_files=len(result.log_files),
        log_lines_scanned=result.log_lines_scanned,
        not_scanned=list(result.not_scanned),
    )


def destination_transports(clients: list[ClientConfig]) -> list[DestinationTransport]:
    """Each destination's channel as the running code would open it (DPP 1.5)."""
    found = []
    for client in clients:
        for config in client.destinations:
            try:
                destination = build_destination(config)
            except ValueError as exc:
                transport = f"refused: {exc}"
            else:
                transport = destination.transport
                destination.close()
            found.append(DestinationTransport(client.id, config.name, config.type, transport))
    return found


def pii_fields(clients: list[ClientConfig]) -> list[PiiFields]:
    """PII paths each client keeps: every PII field of an order minus its `pii.drop`."""
    return [
        PiiFields(
            client_id=client.id,
            held=sorted(ORDER_PII_PATHS - set(client.pii.drop)),
            dropped=sorted(set(client.pii.drop)),
        )
        for client in clients
    ]


def _encrypted(transport: str) -> bool:
    return transport.startswith(("https", "sftp", "local directory"))


def checks(report: AuditReport) -> list[Check]:
    """The "must" column of DPP.md, evaluated on the computed numbers."""
    unencrypted = [d for d in report.destinations if not _encrypted(d.transport)]
    values: Mapping[str, tuple[str, str, str, bool]] = {
        "retention.overdue_readable": (
            "2.1",
            "no order holds readable PII past its retention window",
            str(report.retention.overdue_readable),
            report.retention.overdue_readable == 0,
        ),
        "orders.pii_sealed_ratio": (
            "2.4",
            "every stored order's PII is sealed (AES-256-GCM)",
            f"{report.orders.pii_sealed_ratio:.2%}",
            report.orders.pii_sealed_ratio == 1.0,
        ),
        "non_pii.older_than_18_months": (
            "1.7",
            "no order row is kept more than 18 months",
            str(report.non_pii.older_than_18_months),
            report.non_pii.older_than_18_months == 0,
        ),
        "destinations.transport": (
            "1.5",
            "every destination uses TLS 1.2+ or SFTP",
            f"{len(unencrypted)} unencrypted of {len(report.destinations)}",
            not unencrypted,
        ),
        "audit_log.chain_valid": (
            "2.6",
            "the audit log's hash chain verifies",
            "valid"
            if report.audit_log.chain_valid
            else f"broken at {report.audit_log.first_bad_id}",
            report.audit_log.chain_valid,
        ),
        "leak_scan.findings": (
            "2.6",
            "no PII in logs or clear columns",
            str(report.leak_scan.findings),
            report.leak_scan.findings == 0,
        ),
    }
    return [Check(key, *value) for key, value in values.items()]

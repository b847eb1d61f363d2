"""The DPP audit report: computed from the data, rendered as JSON, Markdown or one HTML page.

Public API::

    scope = Scope.make(now, client_id=None, since=None, until=None)   # ReportError if reversed
    report = compute_report(runtime, scope) -> AuditReport             # ReportError: unknown client
    report.to_json() -> dict        # follows pipeline/schemas/audit-report.schema.json
    render(report, "html" | "json" | "md") -> str
    SCHEMA_PATH                     # the JSON schema's file
"""

from pathlib import Path

from pipeline.report.compute import compute_report
from pipeline.report.model import FORMAT, AuditReport
from pipeline.report.render import FORMATS, render
from pipeline.report.scope import ReportError, Scope

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "audit-report.schema.json"

__all__ = [
    "FORMAT",
    "FORMATS",
    "SCHEMA_PATH",
    "AuditReport",
    "ReportError",
    "Scope",
    "compute_report",
    "render",
]

"""The report as JSON, Markdown, or one self-contained HTML page (inline CSS and SVG, no script)."""

from __future__ import annotations

import json
from html import escape

from pipeline.report.charts import Marker, bar_chart
from pipeline.report.model import AuditReport
from pipeline.report.tables import Headline, Table, headlines, tables

__all__ = ["FORMATS", "render"]

FORMATS = ("html", "json", "md")

_CSS = """
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --ok: #1a7f37; --bad: #cf222e;
        --bar: #3b6fb6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       max-width: 1000px; margin: 24px auto; padding: 0 20px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: var(--muted); margin: 0 0 16px; }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 4px; font-weight: 600;
           color: #fff; }
.verdict.pass { background: var(--ok); } .verdict.fail { background: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; break-inside: avoid; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 22px; font-weight: 600; }
.card.fail { border-color: var(--bad); } .card.fail .value { color: var(--bad); }
.card .must { color: var(--muted); font-size: 11px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 12px; break-inside: auto; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.code { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
.fail-cell { color: var(--bad); font-weight: 600; } .pass-cell { color: var(--ok); }
.charts { display: grid; grid-template-columns: 1fr; gap: 12px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
         break-inside: avoid; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { width: 100%; max-width: 760px; height: auto; font-size: 11px; fill: var(--muted); }
svg .bar { fill: var(--bar); } svg .grid { stroke: #eaeef2; } svg .axis { stroke: var(--muted); }
svg .marker { stroke: var(--bad); stroke-width: 2; stroke-dasharray: 5 3; }
svg .marker-label { fill: var(--bad); font-weight: 600; }
.section { color: var(--muted); font-weight: normal; font-size: 13px; }
@media print { body { margin: 0; max-width: none; }
               .cards { grid-template-columns: repeat(4, 1fr); } h2 { break-after: avoid; } }
"""


def render(report: AuditReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return _markdown(report)
    if fmt == "html":
        return _html(report)
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def _title(report: AuditReport) -> str:
    scope = ", ".join(report.clients) or "no clients"
    return f"ordervault DPP audit report: {scope}, {report.since} to {report.until}"


def _failed(headline: Headline) -> bool:
    return headline.passed is False


# --- Markdown ------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows or [tuple("-" for _ in columns)]:
        lines.append("| " + " | ".join(_md_cell(cell) for cell in row) + " |")
    return lines


def _markdown(report: AuditReport) -> str:
    lines = [
        f"# {_title(report)}",
        "",
        f"Generated {report.generated_at.isoformat()}. "
        f"Result: **{'all checks pass' if report.passed else 'CHECKS FAILED'}**.",
        "",
        "## Headline numbers",
        "",
        *_md_table(
            ("metric", "value", "must be", "key"),
            [(h.label, h.value, h.must or "", f"`{h.metric}`") for h in headlines(report)],
        ),
    ]
    charts = [
        (
            "PII age after delivery (orders with readable PII, by whole days)",
            "days",
            report.retention.age_after_delivery_days,
        ),
        ("Bucket keys destroyed per day", "day", report.keys.destroyed_per_day),
        ("Decrypts by purpose", "purpose", report.decrypts.by_purpose),
    ]
    for title, label, bars in charts:
        lines += [
            "",
            f"## {title}",
            "",
            *_md_table((label, "count"), [(b.label, str(b.count)) for b in bars]),
        ]
    for table in tables(report):
        lines += [
            "",
            f"## {table.title} (DPP {table.section})",
            "",
            *_md_table(table.columns, table.rows),
        ]
    return "\n".join(lines) + "\n"


# --- HTML ----------------------------------------------------------------------------------


def _card(headline: Headline) -> str:
    failed = _failed(headline)
    must = f'<div class="must">must be {escape(headline.must)}</div>' if headline.must else ""
    metric = escape(headline.metric)
    return (
        f'<div class="card{" fail" if failed else ""}">'
        f'<div class="label">{escape(headline.label)}</div>'
        f'<div class="value" id="{metric}" data-metric="{metric}">'
        f"{escape(headline.value)}</div>{must}</div>"
    )


def _cell(text: str, column: str) -> str:
    classes = []
    if text.isdigit() and column != "DPP §":
        classes.append("num")
    if column in ("commitment", "head hash (keep a copy)") or (len(text) >= 40 and " " not in text):
        classes.append("code")
    if text == "FAIL":
        classes.append("fail-cell")
    elif text == "pass":
        classes.append("pass-cell")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attr}>{escape(text)}</td>"


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    rows = table.rows or [tuple("-" for _ in table.columns)]
    body = "".join(
        "<tr>"
        + "".join(_cell(cell, col) for cell, col in zip(row, table.columns, strict=True))
        + "</tr>"
        for row in rows
    )
    return (
        f'<h2>{escape(table.title)} <span class="section">DPP {escape(table.section)}</span></h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _charts(report: AuditReport) -> str:
    limits = sorted({c.retention_days for c in report.retention.clients})
    age = bar_chart(
        "chart-pii-age",
        "PII age after delivery",
        report.retention.age_after_delivery_days,
        x_label="whole days since delivery (orders with readable PII)",
        markers=[Marker(days - 1, f"{days}-day retention") for days in limits],
    )
    destroyed = bar_chart(
        "chart-keys-destroyed",
        "Bucket keys destroyed per day",
        report.keys.destroyed_per_day,
        x_label="day (UTC)",
    )
    purposes = bar_chart(
        "chart-decrypts",
        "Decrypts by purpose",
        report.decrypts.by_purpose,
        x_label="purpose",
    )
    figures = [
        ("PII age after delivery, against the retention line (DPP 2.1)", age),
        ("Bucket keys destroyed per day (DPP 2.1)", destroyed),
        ("Decrypts by purpose (DPP 2.6)", purposes),
    ]
    return (
        '<div class="charts">'
        + "".join(
            f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"
            for caption, svg in figures
        )
        + "</div>"
    )


def _html(report: AuditReport) -> str:
    verdict = (
        '<span class="verdict pass" id="verdict" data-passed="true">all checks pass</span>'
        if report.passed
        else '<span class="verdict fail" id="verdict" data-passed="false">checks failed</span>'
    )
    cards = "".join(_card(h) for h in headlines(report))
    sections = "".join(_html_table(t) for t in tables(report))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(_title(report))}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(_title(report))}</h1>"
        f'<p class="meta">Generated {escape(report.generated_at.isoformat())} from the order data, '
        f"the key store and the audit log. {verdict}</p>"
        f'<div class="cards">{cards}</div>'
        f"<h2>Charts</h2>{_charts(report)}{sections}"
        "</body></html>\n"
    )

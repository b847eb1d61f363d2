"""`ordervault audit report | audit scan`: the DPP evidence, and the search for leaked PII."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.app import console, err_console, state
from pipeline.cli.audit_cmd import audit_app
from pipeline.cli.options import parse_now
from pipeline.leak_scan import scan
from pipeline.report import FORMATS, ReportError, Scope, compute_report, render
from pipeline.runtime import Runtime

ClientOpt = Annotated[str | None, typer.Option("--client", help="One client id.")]
NowOpt = Annotated[str | None, typer.Option(help="Clock (ISO 8601 with offset).")]


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a day (YYYY-MM-DD): {value!r}", param_hint=option) from None


@audit_app.command("report")
def report_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="html, json or md.")] = "html",
    client: ClientOpt = None,
    all_clients: Annotated[bool, typer.Option("--all", help="Every client (default).")] = False,
    since: Annotated[str | None, typer.Option(help="First day (default: until - 29).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day (default: today).")] = None,
    now: NowOpt = None,
) -> None:
    """Compute the DPP audit report from the data; exit 1 if any check fails."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"one of {', '.join(FORMATS)}", param_hint="--format")
    if client is not None and all_clients:
        raise typer.BadParameter("give --client or --all, not both")
    at = parse_now(now)
    config = state(ctx).load()
    try:
        scope = Scope.make(
            at,
            client_id=client,
            since=_day(since, "--since"),
            until=_day(until, "--until"),
        )
        with Runtime.open(config, clock=lambda: at) as runtime:
            report = compute_report(runtime, scope)
    except ReportError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(code=2) from None
    out.write_text(render(report, fmt), encoding="utf-8")
    for check in report.checks:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"{mark} DPP {check.section}: {check.rule}: {check.value}", highlight=False)
    console.print(f"report written to {out}")
    if not report.passed:
        raise typer.Exit(code=1)


@audit_app.command("scan")
def scan_cmd(ctx: typer.Context, client: ClientOpt = None) -> None:
    """Search clear columns and log files for PII; print where (never what); exit 1 if found."""
    config = state(ctx).load()
    if client is not None:
        config.client(client)  # ConfigError (one line, exit 1) for an unknown client
    with Runtime.open(config) as runtime:
        result = scan(runtime, client_id=client)
    console.print(
        f"scanned {result.rows_scanned} row(s), {len(result.log_files)} log file(s), "
        f"{result.log_lines_scanned} log line(s)",
        highlight=False,
    )
    for item in result.not_scanned:
        console.print(f"not scanned: {item}", highlight=False)
    if result.clean:
        console.print("[green]no PII found[/]")
        return
    table = Table(title=f"{len(result.findings)} finding(s)", title_justify="left")
    for column in ("source", "where", "kind"):
        table.add_column(column, overflow="fold")
    for finding in result.findings:
        table.add_row(finding.source, finding.location, finding.kind)
    console.print(table)
    raise typer.Exit(code=1)

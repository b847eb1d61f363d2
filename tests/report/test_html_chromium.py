"""The HTML report as a reviewer sees it: rendered by headless Chromium, numbers read back."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import typer
from typer.testing import CliRunner

from tests.configs import ENVIRON
from tests.fixtures.runtime import Deployment
from tests.report.scenario import build_history
from tests.services import unavailable

CHROMIUM = "/usr/bin/chromium"
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium(tmp_path: Path, *args: str) -> str:
    if not Path(CHROMIUM).exists():
        unavailable("chromium", f"{CHROMIUM} is missing (Debian package chromium)")
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class _Metrics(HTMLParser):
    """Text of every element with a data-metric attribute, and the chart bars' counts."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, str] = {}
        self.bars: dict[str, list[tuple[str, int]]] = {}
        self._open: str | None = None
        self._chart: str | None = None
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if attr.get(name):
                self.external.append(str(attr[name]))
        if attr.get("data-metric"):
            self._open = attr["data-metric"]
        if tag == "svg" and attr.get("id"):
            self._chart = attr["id"]
        if tag == "rect" and self._chart and attr.get("data-count") is not None:
            label, count = str(attr.get("data-label")), int(str(attr["data-count"]))
            self.bars.setdefault(self._chart, []).append((label, count))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.metrics[self._open] = data.strip()
            self._open = None


def test_chromium_shows_the_reports_numbers(deployment: Deployment, tmp_path: Path) -> None:
    build_history(deployment)
    html, report_json = tmp_path / "report.html", tmp_path / "report.json"
    config = str(deployment.root / "ordervault.toml")
    now = deployment.clock.now.isoformat()
    for fmt, out, scope in (("html", html, "--all"), ("json", report_json, "--client=acme")):
        args = ["audit", "report", scope, "--now", now, "--format", fmt, "--out", str(out)]
        result = CliRunner().invoke(_app(), ["--config", config, *args], env=ENVIRON)
        assert result.exit_code == 0, result.output + result.stderr
        assert "pass DPP 2.1" in result.output
    document = json.loads(report_json.read_text())

    dom = chromium(tmp_path, "--dump-dom", html.as_uri())
    parsed = _Metrics()
    parsed.feed(dom)
    assert parsed.scripts == 0
    assert parsed.external == []
    assert parsed.metrics["orders.total"] == str(document["orders"]["total"]) == "10"
    assert parsed.metrics["retention.overdue_readable"] == "0"
    assert parsed.metrics["orders.pii_sealed_ratio"] == "100.00%"
    assert parsed.metrics["keys.destroyed"] == str(document["keys"]["destroyed"])
    assert parsed.metrics["audit_log.chain_valid"] == "valid"
    assert parsed.metrics["leak_scan.findings"] == "0"
    assert dict(parsed.bars["chart-decrypts"]) == {"forward": 1, "support": 2}
    assert dict(parsed.bars["chart-keys-destroyed"])["2026-10-02"] == 1
    assert sum(c for _l, c in parsed.bars["chart-pii-age"]) == 5
    assert re.search(r'id="verdict"[^>]*data-passed="true"', dom)

    png = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={png}", "--window-size=1100,2400", html.as_uri())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _app() -> typer.Typer:
    from pipeline.cli import (
        app,
        report_cmd,  # noqa: F401  (registers audit report/scan)
    )

    return app

"""`ordervault audit report` as an operator runs it: formats, period, scope, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.configs import ENVIRON
from tests.fixtures.runtime import Deployment
from tests.report.scenario import REPORT_NOW, build_history

NOW = REPORT_NOW.isoformat()


def _app() -> typer.Typer:
    from pipeline.cli import (
        app,
        report_cmd,  # noqa: F401  (registers audit report/scan)
    )

    return app


def invoke(deployment: Deployment, *args: str) -> tuple[int, str]:
    config = str(deployment.root / "ordervault.toml")
    result = CliRunner().invoke(_app(), ["--config", config, "audit", *args], env=ENVIRON)
    return result.exit_code, result.output + result.stderr


def test_period_and_formats(deployment: Deployment, tmp_path: Path) -> None:
    build_history(deployment)
    out = tmp_path / "r.json"
    period = ["--since", "2026-10-01", "--until", "2026-10-03", "--now", NOW]
    code, output = invoke(deployment, "report", *period, "--format", "json", "--out", str(out))
    assert code == 0, output
    document = json.loads(out.read_text())
    assert document["period"] == {"since": "2026-10-01", "until": "2026-10-03"}
    # The decrypts and the erasure happened on 2026-09-25, outside this period.
    assert document["decrypts"]["total"] == 0
    assert document["erasures"] == []
    assert len(document["keys"]["destroyed_in_period"]) == 1
    assert [bar["label"] for bar in document["keys"]["destroyed_per_day"]] == [
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
    ]

    md = tmp_path / "r.md"
    code, output = invoke(deployment, "report", *period, "--format", "md", "--out", str(md))
    assert code == 0, output
    assert md.read_text().startswith(
        "# ordervault DPP audit report: acme, 2026-10-01 to 2026-10-03"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "html, json, md"),
        (["--since", "2026-10-05", "--until", "2026-10-01"], "is after"),
        (["--since", "yesterday"], "not a day"),
        (["--client", "nobody"], "no client 'nobody'"),
        (["--client", "acme", "--all"], "not both"),
    ],
)
def test_bad_requests(
    deployment: Deployment, tmp_path: Path, args: list[str], message: str
) -> None:
    code, output = invoke(deployment, "report", "--now", NOW, "--out", str(tmp_path / "x"), *args)
    assert code == 2
    assert message in output
    assert not (tmp_path / "x").exists()


def test_failed_checks_exit_1_after_writing(deployment: Deployment, tmp_path: Path) -> None:
    build_history(deployment)
    later = "2026-10-15T12:00:00+00:00"  # the 2026-10-10 bucket is due; no expiry ran
    out = tmp_path / "r.html"
    code, output = invoke(
        deployment, "report", "--now", later, "--format", "html", "--out", str(out)
    )
    assert code == 1
    assert "FAIL DPP 2.1" in output
    assert 'data-passed="false"' in out.read_text()

"""`ordervault config check` exits non-zero naming file, field and reason for each problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.configs import ACME, ENVIRON, write_config

CASES = {
    "wrong type": (
        ACME.replace("site_id = 3", 'site_id = "three"'),
        "ebay[0].site_id",
        "valid integer",
    ),
    "unknown key": (
        ACME.replace('region = "eu"', 'region = "eu"\ncolour = "red"'),
        "amazon[0].colour",
        "unknown key",
    ),
    "inline secret": (
        ACME.replace('secret = "env:ACME_WEBHOOK_SECRET"', 'secret = "s3cr3t-inline-value"'),
        "destinations[0].secret",
        "inline secret not allowed",
    ),
    "amazon retention 45 days": (
        ACME.replace("days_after_delivery = 30", "days_after_delivery = 45"),
        "retention.days_after_delivery",
        "exceeds Amazon's 30-day limit",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_config_check_names_file_field_and_reason(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, field, reason = CASES[case]
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    path = write_config(tmp_path, {"acme": text})
    result = CliRunner().invoke(app, ["--config", str(path), "config", "check"])
    assert result.exit_code == 2
    line = next(line for line in result.stderr.splitlines() if field in line)
    assert str(tmp_path / "clients" / "acme.toml") in line
    assert reason in line
    assert "s3cr3t" not in result.output + result.stderr


def test_config_check_shows_clients_when_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")
    path = write_config(tmp_path)
    result = CliRunner().invoke(app, ["--config", str(path), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "acme" in result.output
    assert "amazon:acme-eu" in result.output
    assert "configuration OK" in result.output
    for value in ENVIRON.values():
        assert value not in result.output

"""The fixed CLI interfaces of this stage: db upgrade, audit verify, demo."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pipeline.cli import app
from storage import audit, create_engine, current_revision, head_revision, session_factory
from tests.configs import ENVIRON, write_config


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")
    return write_config(tmp_path)


def invoke(settings_file: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config", str(settings_file), *args])
    return result.exit_code, result.output + result.stderr


def test_db_upgrade_migrates_both_databases_and_is_idempotent(settings_file: Path) -> None:
    for _ in range(2):
        code, output = invoke(settings_file, "db", "upgrade")
        assert code == 0, output
    var = settings_file.parent / "var"
    assert current_revision(f"sqlite:///{var / 'data.db'}", keystore=False) == head_revision(
        keystore=False
    )
    assert current_revision(f"sqlite:///{var / 'keys.db'}", keystore=True) == head_revision(
        keystore=True
    )


def test_audit_verify_reports_ok_then_the_first_broken_row(settings_file: Path) -> None:
    assert invoke(settings_file, "db", "upgrade")[0] == 0
    engine = create_engine(f"sqlite:///{settings_file.parent / 'var' / 'data.db'}")
    sessions = session_factory(engine)
    from datetime import UTC, datetime

    from storage import write_session

    with write_session(sessions) as session:
        for n in range(3):
            audit.append(
                session,
                actor="test",
                action="decrypt",
                subject={"order_id": n},
                details={"purpose": "support"},
                now=datetime(2026, 11, 1, tzinfo=UTC),
            )
    code, output = invoke(settings_file, "audit", "verify")
    assert code == 0
    assert "audit chain OK" in output
    assert "3 event(s)" in output
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE id = 2"))
    engine.dispose()
    code, output = invoke(settings_file, "audit", "verify")
    assert code == 1
    assert "BROKEN at event 2" in output


def test_demo_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["demo", "--workdir", str(workdir), "--orders", "20", "--now", "2026-11-21T12:00:00Z"]
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert "20 new orders sealed and stored" in result.output
    assert "19 new orders sealed and stored, 1 broken payload(s) quarantined" in result.output
    assert "accepted 39 orders, rejected 0" in result.output
    assert "0 new or changed" in result.output
    assert "78 delivered" in result.output
    assert "orders with readable PII left: 0" in result.output
    assert "all pass" in result.output
    assert (workdir / "audit-report.html").exists()
    assert "audit chain" in result.output
    assert (workdir / "var" / "root.key").stat().st_mode & 0o077 == 0
    # Running it again rewrites its own folder, and refuses a folder that is not its own.
    assert (
        CliRunner().invoke(app, ["demo", "--workdir", str(workdir), "--orders", "5"]).exit_code == 0
    )
    other = tmp_path / "precious"
    other.mkdir()
    (other / "data.txt").write_text("keep me")
    result = CliRunner().invoke(app, ["demo", "--workdir", str(other), "--orders", "5"])
    assert result.exit_code != 0
    assert (other / "data.txt").read_text() == "keep me"

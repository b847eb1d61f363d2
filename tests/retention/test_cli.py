"""`ordervault expire | dsar export | dsar erase | client offboard` as an operator runs them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from connectors.order import Buyer
from tests.configs import ENVIRON
from tests.fixtures.runtime import Deployment
from tests.retention.helpers import audit_events, order_row, readable, store, store_delivered

NOW = "2026-10-02T12:00:00Z"  # the deployment clock's time


@pytest.fixture(autouse=True)
def _environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")


def _app() -> typer.Typer:
    # Until pipeline/cli/__init__.py imports them, importing registers the commands.
    from pipeline.cli import app, client_cmd, dsar_cmd, expire_cmd  # noqa: F401

    return app


def invoke(deployment: Deployment, *args: str, stdin: str | None = None) -> tuple[int, str]:
    settings = deployment.root / "ordervault.toml"
    result = CliRunner().invoke(_app(), ["--config", str(settings), *args], input=stdin)
    return result.exit_code, result.output + result.stderr


def test_expire_dry_run_then_run(deployment: Deployment) -> None:
    dying = store_delivered(deployment, "1000000", deployment.clock.now.replace(month=9, day=12))
    living = store(deployment, "1000001")

    code, output = invoke(deployment, "expire", "--now", "2026-10-12T00:00:00Z", "--dry-run")
    assert code == 0, output
    assert "2026-10-12" in output
    assert "dry run: nothing changed" in output
    assert order_row(deployment, dying).pii_ciphertext is not None
    assert deployment.runtime.vault.buckets_due(date(2026, 10, 12)) == [
        ("acme", date(2026, 10, 12))
    ]

    code, output = invoke(deployment, "expire", "--now", "2026-10-12T00:00:00Z")
    assert code == 0, output
    assert "1 bucket key(s) destroyed, 1 order(s) shredded" in output
    stored = deployment.runtime.keystore.bucket_for_day("acme", date(2026, 10, 12))
    assert stored is not None
    assert stored.commitment in output.replace("\n", "")
    assert order_row(deployment, dying).pii_ciphertext is None
    assert readable(deployment, living)

    code, output = invoke(deployment, "expire", "--now", "2026-10-12")
    assert code != 0
    assert "UTC offset" in output


def test_dsar_export_and_erase(deployment: Deployment, tmp_path: Path) -> None:
    email = "cli.subject@example.invalid"
    mine = store(deployment, "2000000", buyer=Buyer(name="S", email=email))
    other = store(deployment, "2000001")
    out = tmp_path / "dsar.json"
    common = ["--client", "acme", "--email", email, "--operator", "carol", "--now", NOW]

    code, output = invoke(deployment, "dsar", "export", *common, "--out", str(out))
    assert code == 0, output
    assert "1 order(s) written" in output
    assert [o["order_id"] for o in json.loads(out.read_text())["orders"]] == [mine]
    assert out.stat().st_mode & 0o777 == 0o600

    code, output = invoke(deployment, "dsar", "erase", *common)
    assert code == 0, output
    assert f"1 order(s) erased: {mine}" in output
    assert email not in output
    assert not readable(deployment, mine)
    assert readable(deployment, other)
    assert [e.actor for e in audit_events(deployment, "erase")] == ["operator:carol"]

    code, output = invoke(
        deployment, "dsar", "erase", "--client", "acme", "--operator", "carol", "--now", NOW
    )
    assert code != 0
    assert "exactly one of --email and --buyer-id" in output


def test_client_offboard_destroys_every_key(deployment: Deployment) -> None:
    ids = [store(deployment, f"300000{n}") for n in range(2)]
    ids.append(store_delivered(deployment, "3000009", deployment.clock.now))
    now = "2026-10-03T08:00:00Z"

    code, output = invoke(deployment, "client", "offboard", "acme", "--now", now, stdin="n\n")
    assert code != 0
    assert all(readable(deployment, i) for i in ids)

    code, output = invoke(
        deployment, "client", "offboard", "acme", "--now", now, "--operator", "dave", "--yes"
    )
    assert code == 0, output
    assert "2 bucket key(s) destroyed, 3 order(s) shredded" in output
    assert "blind-index key destroyed" in output
    assert deployment.runtime.keystore.index_key("acme") is None
    assert deployment.runtime.vault.key_status("acme").active_buckets == 0
    for order_id in ids:
        assert not readable(deployment, order_id)
        assert order_row(deployment, order_id).shred_reason == "offboarded"
    (event,) = audit_events(deployment, "offboard")
    assert event.actor == "operator:dave"
    assert event.details["orders_shredded"] == 3
    assert event.details["index_key_destroyed"] is True
    assert {e.details["reason"] for e in audit_events(deployment, "shred")} == {"offboarded"}

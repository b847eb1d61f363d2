"""`ordervault keys init | status | rotate-root` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from crypto import LocalRootKey
from pipeline.access import Purpose, open_order
from pipeline.config import load_config
from pipeline.ingest import Ingestor
from pipeline.runtime import Runtime
from tests.configs import ENVIRON, write_config
from tests.factories import make_order
from tests.fixtures.runtime import Deployment


@pytest.fixture(autouse=True)
def _environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")


def invoke(settings_file: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app_(), ["--config", str(settings_file), *args])
    return result.exit_code, result.output + result.stderr


def app_():  # type: ignore[no-untyped-def]
    from pipeline.cli import app

    return app


def test_keys_init_creates_a_0600_key_once(tmp_path: Path) -> None:
    settings_file = write_config(tmp_path)
    code, output = invoke(settings_file, "keys", "init")
    assert code == 0, output
    key_file = tmp_path / "var" / "root.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(key_file.read_bytes()) == 32
    before = key_file.read_bytes()
    code, output = invoke(settings_file, "keys", "init")
    assert code != 0
    assert "refusing to overwrite" in output
    assert key_file.read_bytes() == before


def test_keys_status_and_rotate_root_keep_every_order_readable(deployment: Deployment) -> None:
    settings_file = deployment.root / "ordervault.toml"
    client = deployment.config.client("acme")
    ids = [
        Ingestor(deployment.runtime)
        .store(client, make_order(marketplace_order_id=f"028-{n}"))
        .order_id
        for n in range(5)
    ]
    code, output = invoke(settings_file, "keys", "status")
    assert code == 0, output
    assert "acme" in output
    old_id = LocalRootKey.from_file(deployment.config.settings.kms.key_file).root_key_id

    code, output = invoke(settings_file, "keys", "rotate-root")
    assert code == 0, output
    new_id = LocalRootKey.from_file(deployment.config.settings.kms.key_file).root_key_id
    assert new_id != old_id
    assert f"{old_id} -> {new_id}" in output
    assert f"retired root key {old_id} overwritten and deleted" in output

    with deployment.runtime.sessions() as session:
        from sqlalchemy import select

        from storage.models import AuditEvent

        [event] = session.execute(
            select(AuditEvent).where(AuditEvent.action == "root_key_rotation")
        ).scalars()
    assert (event.details["from_root_key_id"], event.details["to_root_key_id"]) == (old_id, new_id)
    assert event.actor.startswith("operator:")

    # A fresh process, holding only the new root key, opens every order.
    config = load_config(settings_file, environ=ENVIRON)
    with Runtime.open(config, clock=deployment.clock) as fresh:
        for order_id in ids:
            assert open_order(fresh, order_id, purpose=Purpose.SUPPORT, actor="t").buyer

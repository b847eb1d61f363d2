"""Every command logs through the redacting handlers, not only the long-running ones.

A PII canary (an email address, an international phone number, a URL with its password) put
into a log record while any command runs reaches stderr and the log file redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.testing
from typer.core import TyperGroup
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.logs import RedactingFilter, installed_redactors
from tests.configs import ENVIRON, write_config

CANARY_EMAIL = "log.canary@buyers.example.invalid"
CANARY_PHONE = "+49 30 5550 9876"
CANARY_PASSWORD = "pw-canary-7d1e"
CANARY_URL = f"postgresql+psycopg://ordervault:{CANARY_PASSWORD}@db.internal:5432/ov"
CANARIES = (CANARY_EMAIL, "5550 9876", CANARY_PASSWORD)

log = logging.getLogger("pipeline.test_cli_logging")


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, TyperGroup):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def _root() -> TyperGroup:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    return root


COMMANDS = list(_commands(_root()))


def test_every_command_of_the_interface_is_covered() -> None:
    # DESIGN.md's fixed CLI, plus the commands added since.
    names = {" ".join(path) for path in COMMANDS}
    assert {
        "demo",
        "config check",
        "db upgrade",
        "keys init",
        "keys status",
        "keys rotate-root",
        "pull",
        "backfill",
        "worker",
        "scheduler",
        "serve",
        "replay",
        "expire",
        "dsar export",
        "dsar erase",
        "audit report",
        "audit verify",
        "audit scan",
        "client offboard",
    } <= names


@pytest.fixture(autouse=True)
def _no_leftover_handlers() -> Iterator[None]:
    yield
    # A command removes what it installed: nothing lingers for the next one (or test).
    assert installed_redactors() == []


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_installs_the_redacting_handler(
    path: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command's body is replaced by one that logs the canaries: whatever a command does,
    and whether or not it reads its configuration, its records pass the redaction."""
    root = _root()
    command: Any = root
    for name in path:
        command = command.commands[name]
    seen: list[list[RedactingFilter]] = []

    def body(**_: Any) -> None:
        seen.append(installed_redactors())
        log.warning("buyer %s, phone %s, via %s", CANARY_EMAIL, CANARY_PHONE, CANARY_URL)

    command.callback = body
    command.params = [p for p in command.params if not p.required]
    monkeypatch.setattr(typer.testing, "_get_command", lambda _app: root)
    result = CliRunner().invoke(
        app, ["--config", str(tmp_path / "absent.toml"), *path], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert seen, "the command's body did not run"
    assert seen[0], f"{' '.join(path)} ran without the redacting handler"
    assert sum(f.redactions for f in seen[0]) >= 3
    assert "[redacted]" in result.stderr
    assert "ordervault:***@db.internal" in result.stderr
    for canary in CANARIES:
        assert canary not in result.stderr


def test_a_real_command_logs_redacted_to_the_configured_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    path = write_config(tmp_path)

    def upgrade_all(*_: object) -> None:
        log.warning("migrating for %s (%s) at %s", CANARY_EMAIL, CANARY_PHONE, CANARY_URL)
        raise RuntimeError(f"stop here, {CANARY_EMAIL}")

    monkeypatch.setattr("pipeline.cli.db_cmd.upgrade_all", upgrade_all)
    result = CliRunner().invoke(app, ["--config", str(path), "db", "upgrade"])
    assert isinstance(result.exception, RuntimeError)  # the command's own failure, not ours
    text = (tmp_path / "var" / "ordervault.log").read_text()
    assert "WARNING pipeline.test_cli_logging migrating for [redacted]" in text
    assert "ordervault:***@db.internal" in text
    for canary in CANARIES:
        assert canary not in text
        assert canary not in result.stderr


def test_a_url_password_in_a_log_record_is_masked() -> None:
    redactor = RedactingFilter()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "broker %s, redis %s", None, None)
    record.args = ("amqp://guest:guest-secret@rabbit:5672/%2F", "redis://h:6379/0?password=r3d")
    assert redactor.filter(record)
    message = record.getMessage()
    assert message == "broker amqp://guest:***@rabbit:5672/%2F, redis redis://h:6379/0?password=***"
    assert redactor.redactions == 1

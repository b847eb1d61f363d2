"""Passwords written inline in database and broker URLs: accepted, warned about, never shown.

The demo and local set-ups use guest:guest for RabbitMQ, so such URLs keep working; but
`config check` names each setting that holds one, and no output, error or repr prints it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import load_config
from pipeline.settings import has_inline_password, mask_passwords
from tests.configs import ENVIRON, SETTINGS, write_config

DB_PASSWORD = "db-pw-canary-31"
KEYS_PASSWORD = "ks-pw-canary-47"
BROKER_PASSWORD = "mq-pw-canary-59"
PASSWORDS = (DB_PASSWORD, KEYS_PASSWORD, BROKER_PASSWORD)

INLINE = (
    SETTINGS.replace(
        'url = "sqlite:///var/data.db"',
        f'url = "postgresql+psycopg://ordervault:{DB_PASSWORD}@127.0.0.1:1/ov"',
    )
    .replace(
        'url = "sqlite:///var/keys.db"',
        f'url = "postgresql+psycopg://keys:{KEYS_PASSWORD}@127.0.0.1:1/ov_keys"',
    )
    .replace('url = "inline"', f'url = "amqp://guest:{BROKER_PASSWORD}@127.0.0.1:5672/%2F"')
)


@pytest.fixture(autouse=True)
def _environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**ENVIRON, "OV_DB_PASSWORD": DB_PASSWORD}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://u:secret@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
        ("postgresql+psycopg://u:p%40ss@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql://u:p@ss@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
        ("postgresql://u@h/db?password=secret&x=1", "postgresql://u@h/db?password=***&x=1"),
        ("amqp://guest:guest@rabbit:5672/%2F", "amqp://guest:***@rabbit:5672/%2F"),
        ("redis://:secret@[::1]:6379/0", "redis://:***@[::1]:6379/0"),
        ("amqp://guest@rabbit:5672/", "amqp://guest@rabbit:5672/"),
        ("sqlite:////var/lib/ordervault/data.db", "sqlite:////var/lib/ordervault/data.db"),
        ("inline", "inline"),
    ],
)
def test_a_url_is_shown_with_its_password_masked(url: str, masked: str) -> None:
    assert mask_passwords(url) == masked
    assert has_inline_password(url) is ("***" in masked)
    assert mask_passwords(f"could not reach {url}: refused") == f"could not reach {masked}: refused"


def test_config_check_warns_about_each_inline_password_without_showing_it(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path, settings=INLINE)
    result = CliRunner().invoke(app, ["--config", str(path), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if "password inline" in line]
    assert [w.split(": ")[2] for w in warnings] == ["database.url", "keystore.url", "broker.url"]
    assert all(str(path) in w for w in warnings)
    assert 'database.password = "env:NAME"' in warnings[0]
    assert 'broker.password = "env:NAME"' in warnings[2]
    assert "ordervault:***@127.0.0.1:1/ov" in result.stdout
    assert "guest:***@127.0.0.1:5672" in result.stdout
    for password in PASSWORDS:
        assert password not in result.output + result.stderr


def test_no_warning_when_the_password_is_a_reference(tmp_path: Path) -> None:
    settings = SETTINGS.replace(
        'url = "sqlite:///var/data.db"',
        'url = "postgresql+psycopg://ordervault@127.0.0.1:1/ov"\npassword = "env:OV_DB_PASSWORD"',
    )
    path = write_config(tmp_path, settings=settings)
    result = CliRunner().invoke(app, ["--config", str(path), "config", "check"])
    assert result.exit_code == 0, result.output
    assert "password inline" not in result.stderr
    assert load_config(path).settings.inline_passwords() == []


def test_settings_never_print_an_inline_password(tmp_path: Path) -> None:
    settings = load_config(write_config(tmp_path, settings=INLINE)).settings
    for text in (repr(settings), str(settings), repr(settings.database), str(settings.broker)):
        for password in PASSWORDS:
            assert password not in text
    # ...while the process still connects with it.
    assert DB_PASSWORD in settings.database.connect_url
    assert BROKER_PASSWORD in settings.broker.connect_url


def test_a_failing_command_never_prints_the_url_with_its_password(tmp_path: Path) -> None:
    # Nothing listens on port 1: the command fails to connect and says so in one line.
    path = write_config(tmp_path, settings=INLINE)
    result = CliRunner().invoke(app, ["--config", str(path), "db", "upgrade"])
    assert result.exit_code != 0
    assert result.stderr.strip()
    log_text = (tmp_path / "var" / "ordervault.log").read_text()
    for password in PASSWORDS:
        assert password not in result.output + result.stderr + log_text

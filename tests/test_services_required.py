"""CI's promise: with ORDERVAULT_REQUIRE_SERVICES=1 an unreachable PostgreSQL, or a crypto
package that fell back to pure Python because its C extension was not built, fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:9/postgres"  # discard port: nobody listens


def _pytest(
    launcher: list[str], selection: list[str], require: bool, **env: str
) -> subprocess.CompletedProcess[str]:
    """pytest on `selection` in a child, started by `launcher`, with ORDERVAULT_REQUIRE_SERVICES
    set from `require` and `env` added to this process's environment."""
    child_env = {**os.environ, **env, "ORDERVAULT_REQUIRE_SERVICES": "1" if require else "0"}
    return subprocess.run(
        [*launcher, "-q", "-p", "no:cacheprovider", *selection],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _run(require: bool) -> subprocess.CompletedProcess[str]:
    return _pytest(
        [sys.executable, "-m", "pytest"],
        ["tests/storage/test_migrations.py", "-k", "postgresql"],
        require,
        ORDERVAULT_TEST_POSTGRES_URL=UNREACHABLE,
    )


def test_unreachable_postgres_fails_when_services_are_required() -> None:
    result = _run(require=True)
    assert result.returncode != 0
    assert "PostgreSQL unavailable" in result.stdout


def test_unreachable_postgres_skips_with_a_reason_otherwise() -> None:
    result = _run(require=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "skipped" in result.stdout


# Runs pytest as an install without crypto/_aead.c's extension would: the import fails.
_WITHOUT_EXTENSION = (
    "import sys; sys.modules['crypto._aead'] = None; import pytest;"
    " sys.exit(pytest.main(sys.argv[1:]))"
)


def _run_without_extension(require: bool) -> subprocess.CompletedProcess[str]:
    return _pytest(
        [sys.executable, "-c", _WITHOUT_EXTENSION],
        ["tests/crypto/test_native.py", "-k", "compiled_backend_is_what_ordervault_uses"],
        require,
    )


def test_a_missing_crypto_extension_fails_when_services_are_required() -> None:
    result = _run_without_extension(require=True)
    assert result.returncode != 0
    assert "compiled crypto backend unavailable" in result.stdout


def test_a_missing_crypto_extension_skips_with_a_reason_otherwise() -> None:
    result = _run_without_extension(require=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "skipped" in result.stdout

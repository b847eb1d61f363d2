"""Every vault test in tests/crypto runs on both backends: the compiled one and the fallback.

`make_vault` (tests/fixtures/keystore.py) is overridden here with one parameter per backend, so
the same test code exercises both; the fallback is forced by hiding the compiled module from
`crypto._format` while the test runs, as an install without a compiler would.
"""

from __future__ import annotations

import pytest

from crypto import _format
from tests.fixtures.keystore import VaultFactory
from tests.services import unavailable

BACKENDS = ("openssl", "cryptography")


def use_backend(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make vaults built from now on use `name`; skip (fail in CI) if it is not built."""
    if name == "cryptography":
        monkeypatch.setattr(_format, "native", None)
    elif _format.native is None:
        unavailable("the compiled crypto backend", "crypto._aead is not built")
    assert _format.backend() == name


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    use_backend(request.param, monkeypatch)
    return str(request.param)


@pytest.fixture
def make_vault(backend: str, make_vault: VaultFactory) -> VaultFactory:
    return make_vault

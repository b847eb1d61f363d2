"""Guards on the project's shape that a reviewer relies on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tests

ROOT = Path(__file__).resolve().parents[1]

# DESIGN.md: pipeline -> connectors, crypto, storage; storage -> crypto (types only);
# connectors and crypto import neither storage nor pipeline.
FORBIDDEN = {
    "connectors": {"storage", "pipeline", "crypto"},
    "crypto": {"storage", "pipeline", "connectors"},
    "storage": {"pipeline", "connectors"},
}


def test_our_tests_package_is_not_shadowed_by_ebaysdk() -> None:
    # ebaysdk's wheel installs a top-level `tests` package into site-packages.
    assert Path(tests.__file__).resolve().parent == ROOT / "tests"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & FORBIDDEN[package]
    }
    assert offenders == {}

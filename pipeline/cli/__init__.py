"""The `ordervault` command line: one Typer app, one module per command group."""

from __future__ import annotations

from pipeline.cli import config_cmd as _config_cmd  # noqa: F401  (registers commands)
from pipeline.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()

"""The `ordervault` command line: one Typer app, one module per command group."""

from __future__ import annotations

# Importing a command module registers its commands on `app`.
from pipeline.cli import audit_cmd as _audit_cmd  # noqa: F401
from pipeline.cli import client_cmd as _client_cmd  # noqa: F401
from pipeline.cli import config_cmd as _config_cmd  # noqa: F401
from pipeline.cli import db_cmd as _db_cmd  # noqa: F401
from pipeline.cli import demo_cmd as _demo_cmd  # noqa: F401
from pipeline.cli import dsar_cmd as _dsar_cmd  # noqa: F401
from pipeline.cli import expire_cmd as _expire_cmd  # noqa: F401
from pipeline.cli import keys_cmd as _keys_cmd  # noqa: F401
from pipeline.cli import pull_cmd as _pull_cmd  # noqa: F401
from pipeline.cli import replay_cmd as _replay_cmd  # noqa: F401
from pipeline.cli import report_cmd as _report_cmd  # noqa: F401
from pipeline.cli import scheduler_cmd as _scheduler_cmd  # noqa: F401
from pipeline.cli import serve_cmd as _serve_cmd  # noqa: F401
from pipeline.cli import worker_cmd as _worker_cmd  # noqa: F401
from pipeline.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()

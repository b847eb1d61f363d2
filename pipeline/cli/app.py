"""The root Typer app and the state every command shares (which config file to read)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from typer.core import TyperGroup

from crypto import CryptoError
from pipeline.config import CONFIG_ENV, Config, ConfigError, config_path, load_config
from pipeline.logs import close_logging, configure_logging
from pipeline.settings import mask_passwords
from storage import StorageError


class _Group(TyperGroup):
    """Expected failures become one line naming what was wrong, and exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context is private
        try:
            return super().invoke(ctx)
        except (StorageError, CryptoError, ConfigError, sa.exc.OperationalError) as exc:
            err_console.print(f"[red]error:[/] {_one_line(exc)}", soft_wrap=True, highlight=False)
            raise typer.Exit(code=1) from None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, sa.exc.OperationalError):
        # The driver's own message; SQLAlchemy's wrapper would add the failed statement.
        text = f"database: {str(exc.orig).strip().splitlines()[0]}"
    else:
        text = str(exc).strip()
    # No message we build quotes a URL with its password; one from a library still might.
    return mask_passwords(text)


app = typer.Typer(
    cls=_Group,
    name="ordervault",
    help="Pull marketplace orders, keep buyer PII sealed, forward, shred on schedule, prove it.",
    no_args_is_help=True,
    # Rich tracebacks show locals and source lines, which may hold PII or secrets; errors the
    # operator can act on are reported in one line by `pipeline.cli.main` instead.
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@dataclass
class State:
    config_file: Path

    def load(self) -> Config:
        try:
            config = load_config(self.config_file)
        except ConfigError as exc:
            print_problems(exc)
            raise typer.Exit(code=2) from None
        # The configured log file and level, from here on; `root` installed stderr already.
        configure_logging(config.settings.logging)
        return config


def print_problems(exc: ConfigError) -> None:
    # One line per problem, never wrapped, so it can be read, grepped and copied.
    err_console.print(f"[red]{len(exc.problems)} configuration problem(s):[/]")
    for problem in exc.problems:
        err_console.print(
            f"  {problem.file}: [bold]{problem.field}[/]: {problem.reason}",
            soft_wrap=True,
            markup=True,
            highlight=False,
        )


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help=f"Settings file (default: ${CONFIG_ENV} or ./ordervault.toml)."
        ),
    ] = None,
) -> None:
    ctx.obj = State(config_file=config_path(config))
    # Every command logs through the redacting handlers, whatever it does and whether or not
    # it ever reads the configuration; they are removed when the command ends.
    configure_logging()
    ctx.call_on_close(close_logging)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj

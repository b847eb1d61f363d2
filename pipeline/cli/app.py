"""The root Typer app and the state every command shares (which config file to read)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipeline.config import CONFIG_ENV, Config, ConfigError, config_path, load_config

app = typer.Typer(
    name="ordervault",
    help="Pull marketplace orders, keep buyer PII sealed, forward, shred on schedule, prove it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold PII or secrets
)
console = Console()
err_console = Console(stderr=True)


@dataclass
class State:
    config_file: Path

    def load(self) -> Config:
        try:
            return load_config(self.config_file)
        except ConfigError as exc:
            print_problems(exc)
            raise typer.Exit(code=2) from None


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


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj

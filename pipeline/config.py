"""Load the settings file and every client file once, strictly, reporting every problem at once.

`load_config` returns frozen, typed objects with secrets resolved, or raises `ConfigError`
listing each problem as (file, field, reason). Values are never echoed in a reason: a
misplaced secret must not end up in a terminal or a log.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline.clients import ClientConfig, retention_problems
from pipeline.secrets import ResolveContext
from pipeline.settings import Settings

DEFAULT_CONFIG = "ordervault.toml"
CONFIG_ENV = "ORDERVAULT_CONFIG"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class ConfigError(Exception):
    """The configuration is unusable; `problems` says where and why, every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s):\n{lines}")


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    clients: Mapping[str, ClientConfig]

    def client(self, client_id: str) -> ClientConfig:
        try:
            return self.clients[client_id]
        except KeyError:
            known = ", ".join(sorted(self.clients)) or "none"
            raise ConfigError(
                [Problem(str(self.path), "clients", f"no client {client_id!r} (known: {known})")]
            ) from None


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser().absolute()


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("webhook", "sftp", "directory") and text.endswith("]"):
            continue  # the discriminated union's tag adds nothing for a reader
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"


def _reason(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        # pydantic's message quotes the value given; the expected ones are enough.
        context = error.get("ctx") or {}
        tag, expected = context.get("discriminator", "tag"), context.get("expected_tags", "?")
        return f"unknown {tag} (expected {expected})"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{message} (got {type(error['input']).__name__})"
    return message


def _validate(
    model: type[M], data: Any, file: Path, environ: Mapping[str, str]
) -> tuple[M | None, list[Problem]]:
    ctx = ResolveContext(base_dir=file.parent, environ=environ)
    try:
        value = model.model_validate(data, context=ctx)
    except ValidationError as exc:
        return None, [Problem(str(file), _location(e["loc"]), _reason(e)) for e in exc.errors()]
    cross: list[tuple[str, str]] = getattr(value, "problems", list)()
    return value, [Problem(str(file), field, reason) for field, reason in cross]


def _read_toml(file: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh), []
    except FileNotFoundError:
        return None, [Problem(str(file), "(file)", "file not found")]
    except OSError as exc:
        return None, [Problem(str(file), "(file)", f"cannot read: {exc.strerror}")]
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(str(file), "(file)", f"not valid TOML: {exc}")]
    except UnicodeDecodeError as exc:
        return None, [Problem(str(file), "(file)", f"not UTF-8 text (byte {exc.start})")]


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate the settings and all client files; raise ConfigError on any problem."""
    file = config_path(path)
    env = dict(os.environ) if environ is None else environ
    data, problems = _read_toml(file)
    settings = None
    if data is not None:
        settings, found = _validate(Settings, data, file, env)
        problems += found
    clients: dict[str, ClientConfig] = {}
    if settings is not None:
        clients_dir = Path(settings.clients_dir)
        try:
            client_files = sorted(clients_dir.glob("*.toml")) if clients_dir.is_dir() else None
        except OSError as exc:  # a name too long for the file system, a folder we may not read
            problems.append(Problem(str(file), "clients_dir", f"cannot read: {exc.strerror}"))
            client_files = []
        if client_files is None:
            problems.append(Problem(str(file), "clients_dir", f"{clients_dir} is not a folder"))
        for client_file in client_files or []:
            client, found = _load_client(client_file, env)
            problems += found
            if client is not None:
                clients[client.id] = client
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return Config(path=file, settings=settings, clients=clients)


def _load_client(
    file: Path, environ: Mapping[str, str]
) -> tuple[ClientConfig | None, list[Problem]]:
    data, problems = _read_toml(file)
    if data is None:
        return None, problems
    client, problems = _validate(ClientConfig, data, file, environ)
    if client is None:
        # Validation stopped short of the cross-field rules; still report the retention caps.
        problems += [Problem(str(file), f, r) for f, r in retention_problems(data)]
    elif client.id != file.stem:
        problems.append(Problem(str(file), "id", f"must match the file name ({file.stem!r})"))
    return client, problems

"""Secret references: a config value that names where a secret lives, never the secret itself.

`env:NAME` reads an environment variable; `file:/path` reads a file (relative paths are
relative to the config file that names them; surrounding whitespace is stripped). Anything
else is an inline secret and is refused. Resolution happens while the config is validated, so a
missing variable or file is reported at start-up with the file and field, never later.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, ValidationInfo

INLINE_REFUSED = "inline secret not allowed: write env:NAME or file:/path"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Secret:
    """A resolved secret. Its repr and str show only the reference, never the value."""

    reference: str
    _value: str = field(repr=False, compare=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return self.reference

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"


@dataclass(frozen=True)
class ResolveContext:
    """What validation needs to resolve references: the file's folder and the environment."""

    base_dir: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def resolve(reference: str, ctx: ResolveContext) -> Secret:
    scheme, sep, target = reference.partition(":")
    if not sep or scheme not in ("env", "file") or not target:
        raise ValueError(INLINE_REFUSED)
    if scheme == "env":
        if not _ENV_NAME.match(target):
            # "env:" followed by something that is no variable's name may be the secret itself:
            # say what is wrong without repeating it.
            raise ValueError("env: must be followed by a variable name (letters, digits, _)")
        if target not in ctx.environ:
            raise ValueError(f"environment variable {target} is not set")
        value = ctx.environ[target]
    else:
        path = Path(target)
        if not path.is_absolute():
            path = ctx.base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not value:
        raise ValueError(f"secret {reference} is empty")
    return Secret(reference, value)


def _validate(value: Any, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a secret reference string (env:NAME or file:/path)")
    ctx = info.context
    if not isinstance(ctx, ResolveContext):
        ctx = ResolveContext(base_dir=Path.cwd())
    return resolve(value, ctx)


SecretRef = Annotated[
    Secret,
    PlainValidator(_validate),
    PlainSerializer(lambda s: s.reference, return_type=str),
]

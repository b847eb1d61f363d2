"""Options several commands share."""

from __future__ import annotations

from datetime import UTC, datetime

import typer


def parse_now(value: str | None) -> datetime:
    """`--now ISO`: the clock a command runs at (default: the real time). Must carry an offset."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--now") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("give a UTC offset, e.g. 2026-11-21T00:00:00Z", param_hint="--now")
    return parsed.astimezone(UTC)

"""Logging set-up: one file, one format, and a last-line redaction filter.

Code never logs PII by construction (log lines carry ids and counts). The filter is the seat
belt: any email address or phone-number-like run that still reaches a record is replaced before
it is written, and counted so a test or the leak scan can notice that one got that far. The
password of a URL (a database or broker URL written with it inline) is masked the same way.

Every command installs it (`pipeline.cli.app`): at first on stderr only, then, once the command
has read its configuration, with the configured file and level too.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path
from typing import TextIO

from pipeline.settings import LoggingSettings, mask_passwords

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# International phone numbers only: a bare digit run would also match order ids and dates,
# which logs need. Values known to be PII are caught by the leak scan's blind-index search.
_PHONE = re.compile(r"\+\d(?:[\s().-]?\d){6,}")
REDACTED = "[redacted]"
_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RedactingFilter(logging.Filter):
    """Replace email- and phone-like text in a record's message and arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.redactions = 0

    def _scrub(self, text: str) -> str:
        # URLs first: "user:password@host" would otherwise read as an email address, and
        # the host the operator needs to see would go with it.
        masked = mask_passwords(text)
        urls = masked != text
        text, emails = _EMAIL.subn(REDACTED, masked)
        text, phones = _PHONE.subn(REDACTED, text)
        self.redactions += emails + phones + urls
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are formatted later; pre-format and scrub them now.
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is at each record, like logging's own last resort.

    A progress display (or a test runner) may swap `sys.stderr` while a command runs; a
    handler holding the stream it was made with would write around it, or to a closed one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # always sys.stderr


# The root level before `configure_logging` first changed it, restored by `close_logging`.
_level_before: int | None = None


def configure_logging(settings: LoggingSettings | None = None) -> RedactingFilter:
    """Send ordervault's logs to the configured file (and stderr for warnings).

    Without settings (a command that has not read its configuration yet), warnings go to
    stderr only, redacted all the same, and the root level is left as it is.
    """
    global _level_before
    root = logging.getLogger()
    redactor = RedactingFilter()
    handlers: list[logging.Handler] = []
    if settings is not None and settings.file:
        Path(settings.file).parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file after logrotate moves it (kept 12 months, DPP 2.6).
        handlers.append(logging.handlers.WatchedFileHandler(settings.file, encoding="utf-8"))
    handlers.append(_StderrHandler())
    close_logging()
    if settings is not None:
        _level_before = root.level
        root.setLevel(settings.level)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(redactor)
        handler._ordervault = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return redactor


def installed_redactors() -> list[RedactingFilter]:
    """The redacting filters of the root logger's handlers `configure_logging` installed."""
    return [
        f
        for handler in logging.getLogger().handlers
        if getattr(handler, "_ordervault", False)
        for f in handler.filters
        if isinstance(f, RedactingFilter)
    ]


def close_logging() -> None:
    """Remove and close the handlers `configure_logging` installed; restore the root level."""
    global _level_before
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ordervault", False):
            root.removeHandler(handler)
            handler.close()
    if _level_before is not None:
        root.setLevel(_level_before)
        _level_before = None

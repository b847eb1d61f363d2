"""Logging set-up: one file, one format, and a last-line redaction filter.

Code never logs PII by construction (log lines carry ids and counts). The filter is the seat
belt: any email address or phone-number-like run that still reaches a record is replaced before
it is written, and counted so a test or the leak scan can notice that one got that far.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

from pipeline.settings import LoggingSettings

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
        text, emails = _EMAIL.subn(REDACTED, text)
        text, phones = _PHONE.subn(REDACTED, text)
        self.redactions += emails + phones
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


def configure_logging(settings: LoggingSettings) -> RedactingFilter:
    """Send ordervault's logs to the configured file (and stderr for warnings)."""
    root = logging.getLogger()
    root.setLevel(settings.level)
    redactor = RedactingFilter()
    handlers: list[logging.Handler] = []
    if settings.file:
        Path(settings.file).parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file after logrotate moves it (kept 12 months, DPP 2.6).
        handlers.append(logging.handlers.WatchedFileHandler(settings.file, encoding="utf-8"))
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.WARNING)
    handlers.append(stderr)
    close_logging()
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.addFilter(redactor)
        handler._ordervault = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return redactor


def close_logging() -> None:
    """Remove and close the handlers `configure_logging` installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ordervault", False):
            root.removeHandler(handler)
            handler.close()

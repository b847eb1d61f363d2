"""The logging seat belt: PII-shaped text never reaches the log file."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.logs import close_logging, configure_logging
from pipeline.settings import LoggingSettings


def test_emails_and_phone_numbers_are_redacted_but_order_ids_kept(tmp_path: Path) -> None:
    log_file = tmp_path / "ordervault.log"
    redactor = configure_logging(LoggingSettings(file=str(log_file), level="INFO"))
    log = logging.getLogger("ordervault.test")
    log.info("stored order %s for %s", "028-1234567-1234567", "canary.buyer@example.invalid")
    log.info("callback +49 30 5550 1234 on 2026-11-21")
    try:
        raise ValueError("bad address for canary.two@example.invalid")
    except ValueError:
        log.exception("failed")
    close_logging()
    text = log_file.read_text()
    assert "028-1234567-1234567" in text
    assert "2026-11-21" in text
    assert "canary" not in text
    assert "5550" not in text
    # The traceback repeats the email (message and source line): at least one per planting.
    assert redactor.redactions >= 3

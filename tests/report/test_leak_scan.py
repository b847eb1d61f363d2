"""The leak scan finds PII planted in clear columns, logs and delivery errors; shows none."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from connectors.order import Buyer
from pipeline.leak_scan import Finding, scan
from pipeline.logs import close_logging, configure_logging
from storage.models import Delivery, Order
from tests.configs import ENVIRON
from tests.fixtures.runtime import Deployment
from tests.report.scenario import build_history
from tests.retention.helpers import store

CANARY = "canary.zqxjw@example.invalid"
# A marketplace buyer id: no pattern knows its shape, only the blind index does.
CANARY_BUYER_ID = "A3QZXJWCANARY7"


def _log_file(deployment: Deployment) -> Path:
    configured = deployment.config.settings.logging.file
    assert configured is not None
    return Path(configured)


def _invoke(deployment: Deployment, *args: str) -> tuple[int, str]:
    from pipeline.cli import (
        app,
        report_cmd,  # noqa: F401  (registers audit scan/report)
    )

    result = CliRunner().invoke(
        app, ["--config", str(deployment.root / "ordervault.toml"), *args], env=ENVIRON
    )
    return result.exit_code, result.output + result.stderr


def test_a_normal_run_scans_clean(deployment: Deployment) -> None:
    build_history(deployment)
    log = _log_file(deployment)
    redactor = configure_logging(deployment.config.settings.logging)
    try:
        logging.getLogger("ordervault.test").info("forwarded order %d to %s", 12, "erp")
        # The redaction filter stops an address that reached a log call.
        logging.getLogger("ordervault.test").warning("bounce from %s", CANARY)
    finally:
        close_logging()
    assert redactor.redactions == 1
    result = scan(deployment.runtime)
    assert result.findings == []
    assert result.log_files == [str(log)]
    assert result.log_lines_scanned == 2
    assert result.rows_scanned > 10

    code, output = _invoke(deployment, "audit", "scan")
    assert code == 0, output
    assert "no PII found" in output


def test_planted_values_are_found_and_not_shown(deployment: Deployment) -> None:
    order_id = store(
        deployment,
        "5000000",
        buyer=Buyer(name="C", email=CANARY, marketplace_buyer_id=CANARY_BUYER_ID),
    )
    other_id = store(deployment, "5000001")
    with deployment.runtime.sessions.begin() as session:
        row = session.get(Order, other_id)
        assert row is not None
        row.clear = {**row.clear, "note": f"call {CANARY} back"}
        delivery_ids = list(session.scalars(sa.select(Delivery.id).order_by(Delivery.id)))
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id == delivery_ids[0])
            .values(last_error=f"550 mailbox {CANARY.upper()} unknown")
        )
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id == delivery_ids[1])
            .values(last_error=f"rejected buyer {CANARY_BUYER_ID}")
        )
    log = _log_file(deployment)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("2026-10-02 INFO ok\n")
    with gzip.open(log.with_name(log.name + ".1.gz"), "wt") as fh:
        fh.write("2026-10-01 INFO ok\n2026-10-01 INFO reply to +49 221 0000000\n")
    with log.with_name(log.name + ".2").open("w") as fh:
        fh.write(f"first\nsecond\nsent to {CANARY}\n")

    result = scan(deployment.runtime)
    found = set(result.findings)
    assert Finding("orders.clear", f"id {other_id} $.note", "email") in found
    assert Finding("orders.clear", f"id {other_id} $.note", "known:email") in found
    assert Finding("deliveries.last_error", f"id {delivery_ids[0]}", "email") in found
    assert Finding("deliveries.last_error", f"id {delivery_ids[1]}", "known:buyer_id") in found
    assert Finding("log", f"{log}.2:3", "email") in found
    assert Finding("log", f"{log}.1.gz:2", "phone") in found
    assert order_id != other_id

    code, output = _invoke(deployment, "audit", "scan")
    assert code == 1, output
    assert "finding(s)" in output
    flat = output.replace("\n", "").lower()
    assert CANARY not in flat
    assert "zqxjw" not in flat
    assert CANARY_BUYER_ID.lower() not in flat
    assert "deliveries.last_error" in output
    assert "known:buyer_id" in output


def test_scan_of_one_client_ignores_the_others(deployment: Deployment) -> None:
    store(deployment, "6000000")
    with deployment.runtime.sessions.begin() as session:
        session.execute(sa.update(Delivery).values(last_error=f"to {CANARY}", client_id="globex"))
    assert scan(deployment.runtime, client_id="acme").findings == []
    assert len(scan(deployment.runtime).findings) >= 1


@pytest.mark.parametrize("client", ["nobody"])
def test_scan_of_an_unknown_client_is_refused(deployment: Deployment, client: str) -> None:
    code, output = _invoke(deployment, "audit", "scan", "--client", client)
    assert code != 0
    assert "nobody" in output

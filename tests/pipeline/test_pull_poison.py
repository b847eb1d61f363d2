"""One order that sealing or storage refuses costs that order, not the account's sync.

A failure is injected for one specific order id (the vault refusing to seal it, the database
refusing its row) on SQLite and PostgreSQL. That order is quarantined, with a reason that
names the kind of failure and no value; every other order is stored and forwarded, and the
cursor moves past the page. An outage (connection lost, root key out of reach) still stops
the pull on the last whole page with nothing of the failed page written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.ebay import InMemoryCallBudget
from connectors.fakes.ebay_trading import FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from connectors.ratelimit import BlockingLimiter, MemoryBuckets
from crypto import BucketDestroyedError, InvalidValueError, KeyStoreError, RecordRef, RootKeyError
from pipeline import ingest as ingest_module
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.order_failures import failure_reason, is_order_failure
from pipeline.pull import Puller, quarantine_record_id
from storage import NaiveDatetimeError, OrderRecord, audit, get_cursor
from storage.models import AuditEvent, Order, QuarantineEntry
from tests.fixtures.marketplaces import acme_pulling_from
from tests.fixtures.runtime import Deployment

AMAZON_ORDERS = 130  # two pages: 100 and 30
PAGE_SIZE = 100
#: Stands in for the value a library's error message may quote.
CANARY = "poison.canary@buyers.example.invalid"


@pytest.fixture
def amazon_orders() -> int:
    return AMAZON_ORDERS


@pytest.fixture
def acme_toml(spapi: FakeSpApi, ebay: FakeEbayTrading, tmp_path: Path) -> str:
    return acme_pulling_from(spapi, ebay, tmp_path / "delivered")


@pytest.fixture
def puller(deployment: Deployment, spapi: FakeSpApi) -> Iterator[Puller]:
    jobs = Jobs(make_broker("inline"), deployment.runtime)
    limiter = BlockingLimiter(MemoryBuckets(), clock=spapi.clock.now, sleep=spapi.clock.sleep)
    yield Puller(deployment.runtime, jobs, limiter, InMemoryCallBudget(), sleep=spapi.clock.sleep)
    jobs.close()


def _in_pull_order(spapi: FakeSpApi) -> list[str]:
    """Order ids as an incremental pull pages them (by last update, then id)."""
    return [o.order_id for o in sorted(spapi.orders(), key=lambda o: (o.updated_at, o.order_id))]


def _refuse_to_seal(
    monkeypatch: pytest.MonkeyPatch, deployment: Deployment, order_id: str, error: Exception
) -> None:
    vault = deployment.runtime.vault
    seal = vault.seal

    def refusing(record: RecordRef, pii: bytes, bucket_day: Any) -> Any:
        if record.record_id == order_id:
            raise error
        return seal(record, pii, bucket_day)

    monkeypatch.setattr(vault, "seal", refusing)


def _refuse_to_store(monkeypatch: pytest.MonkeyPatch, order_id: str, error: Exception) -> None:
    upsert_orders = ingest_module.upsert_orders

    def refusing(
        session: Any, items: Sequence[tuple[OrderRecord, Any]], *args: Any, **kwargs: Any
    ) -> Any:
        if any(record.marketplace_order_id == order_id for record, _ in items):
            raise error
        return upsert_orders(session, items, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "upsert_orders", refusing)


def _delivered_ids(folder: Path) -> list[str]:
    import json

    return [
        json.loads(line)["ordervault"]["marketplace_order_id"]
        for file in folder.glob("*.jsonl")
        for line in file.read_text().splitlines()
    ]


def _data_error() -> sa.exc.DataError:
    return sa.exc.DataError("INSERT INTO orders ...", {}, Exception(f"value too long: {CANARY}"))


INJECTIONS = {
    "vault refuses the order": lambda mp, dep, oid: _refuse_to_seal(
        mp, dep, oid, InvalidValueError(f"cannot seal {CANARY}")
    ),
    "database refuses the row": lambda mp, dep, oid: _refuse_to_store(mp, oid, _data_error()),
}


@pytest.mark.parametrize("injection", INJECTIONS)
def test_a_poison_order_is_quarantined_and_the_account_keeps_syncing(
    injection: str,
    deployment: Deployment,
    puller: Puller,
    spapi: FakeSpApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = deployment.config.client("acme")
    poison = _in_pull_order(spapi)[0]  # on the first page: a later page must still come
    INJECTIONS[injection](monkeypatch, deployment, poison)

    with caplog.at_level(logging.INFO):
        report = puller.pull(client, client.amazon[0])
    puller.jobs.drain()

    assert report.error is None
    assert report.pages == 2
    assert (report.created, report.quarantined) == (AMAZON_ORDERS - 1, 1)
    assert report.orders == AMAZON_ORDERS - 1
    with deployment.runtime.sessions() as session:
        stored = set(session.scalars(sa.select(Order.marketplace_order_id)))
        (entry,) = session.scalars(sa.select(QuarantineEntry)).all()
        cursor = get_cursor(session, "acme", "amazon", "acme-eu", "incremental")
        quarantine_events = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "quarantine")
        ).all()
        assert audit.verify(session).ok
    assert stored == set(_in_pull_order(spapi)) - {poison}
    assert sorted(_delivered_ids(tmp_path / "delivered")) == sorted(stored)
    # The cursor moved past both pages: the poison order does not hold the account back.
    assert cursor is not None
    assert cursor.position_at is not None
    # The quarantine row names the order and the kind of failure, never a value.
    assert entry.marketplace_order_id == poison
    assert entry.reason.startswith("not stored: ")
    assert CANARY not in entry.reason + (entry.field or "")
    assert len(quarantine_events) == 1
    assert CANARY not in str(quarantine_events[0].details)
    assert CANARY not in caplog.text
    assert poison in caplog.text
    # What was quarantined is the whole order, sealed: it opens back to the order's own data.
    ref = RecordRef(
        "acme",
        "quarantine",
        quarantine_record_id("amazon", "acme-eu", entry.received_at),
        1,
    )
    opened = deployment.runtime.vault.open(ref, entry.sealed_payload, entry.wrapped_data_key)
    assert poison.encode() in opened

    # The next pull sees the poison order again (the cursor's overlap): still one row.
    again = puller.pull(client, client.amazon[0])
    assert again.error is None
    with deployment.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(QuarantineEntry)) == 1

    # Once storage accepts it again (a fixed bug, say), a backfill stores it like any other.
    monkeypatch.undo()
    since = deployment.clock.now - timedelta(days=40)
    fixed = puller.pull(client, client.amazon[0], stream="backfill", since=since)
    assert fixed.error is None
    with deployment.runtime.sessions() as session:
        assert (
            session.scalar(sa.select(sa.func.count()).where(Order.marketplace_order_id == poison))
            == 1
        )


OUTAGES = {
    "database connection lost": (
        lambda mp, dep, oid: _refuse_to_store(
            mp,
            oid,
            sa.exc.OperationalError(
                "INSERT INTO orders ...", {}, Exception("server closed the connection")
            ),
        ),
        sa.exc.OperationalError,
    ),
    "root key out of reach": (
        lambda mp, dep, oid: _refuse_to_seal(
            mp, dep, oid, RootKeyError("AWS KMS unreachable", permanent=False)
        ),
        None,  # reported, not raised
    ),
    "key store inconsistent": (
        lambda mp, dep, oid: _refuse_to_seal(mp, dep, oid, KeyStoreError("cannot scrub")),
        KeyStoreError,
    ),
}


@pytest.mark.parametrize("outage", OUTAGES)
def test_an_outage_still_stops_the_pull_on_the_last_whole_page(
    outage: str,
    deployment: Deployment,
    puller: Puller,
    spapi: FakeSpApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = deployment.config.client("acme")
    last = _in_pull_order(spapi)[-1]  # on the second page
    inject, raised = OUTAGES[outage]
    inject(monkeypatch, deployment, last)

    if raised is None:
        report = puller.pull(client, client.amazon[0])
        assert report.error is not None
        assert "root key unavailable" in report.error
        assert report.pages == 1
    else:
        with pytest.raises(raised):
            puller.pull(client, client.amazon[0])
    with deployment.runtime.sessions() as session:
        stored = session.scalar(sa.select(sa.func.count()).select_from(Order))
        quarantined = session.scalar(sa.select(sa.func.count()).select_from(QuarantineEntry))
        cursor = get_cursor(session, "acme", "amazon", "acme-eu", "incremental")
    # The first page whole, nothing of the second, nothing quarantined for an outage.
    assert (stored, quarantined) == (PAGE_SIZE, 0)
    assert cursor is not None

    monkeypatch.undo()
    resumed = puller.pull(client, client.amazon[0])
    assert resumed.error is None
    with deployment.runtime.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Order)) == AMAZON_ORDERS


def test_an_outage_while_storing_order_by_order_still_stops_the_pull(
    deployment: Deployment,
    puller: Puller,
    spapi: FakeSpApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = deployment.config.client("acme")
    poison, *rest = _in_pull_order(spapi)
    upsert_orders = ingest_module.upsert_orders
    lost = sa.exc.OperationalError("INSERT ...", {}, Exception("server closed the connection"))

    def refusing(session: Any, items: Sequence[tuple[OrderRecord, Any]], *a: Any, **k: Any) -> Any:
        ids = {record.marketplace_order_id for record, _ in items}
        if poison in ids:
            raise _data_error()
        if rest[5] in ids:  # the database goes away while the page is stored one by one
            raise lost
        return upsert_orders(session, items, *a, **k)

    monkeypatch.setattr(ingest_module, "upsert_orders", refusing)
    with pytest.raises(sa.exc.OperationalError):
        puller.pull(client, client.amazon[0])
    with deployment.runtime.sessions() as session:
        stored = set(session.scalars(sa.select(Order.marketplace_order_id)))
        quarantined = session.scalar(sa.select(sa.func.count()).select_from(QuarantineEntry))
        cursor = get_cursor(session, "acme", "amazon", "acme-eu", "incremental")
    # Stored on their own before the outage, and kept (whole, each in its own transaction);
    # nothing quarantined, the cursor not moved: the next pull sees the page again.
    assert stored == set(rest[:5])
    assert (quarantined, cursor) == (0, None)


@pytest.mark.parametrize(
    ("error", "order_failure"),
    [
        (ValueError("x"), True),
        (InvalidValueError("x"), True),
        (NaiveDatetimeError("x"), True),
        (OverflowError("x"), True),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), True),
        (BucketDestroyedError("x"), True),
        (sa.exc.DataError("s", {}, Exception("x")), True),
        (sa.exc.IntegrityError("s", {}, Exception("x")), True),
        (sa.exc.StatementError("s", "s", {}, NaiveDatetimeError("x")), True),
        (sa.exc.DataError("s", {}, Exception("x"), connection_invalidated=True), False),
        (sa.exc.OperationalError("s", {}, Exception("x")), False),
        (sa.exc.InterfaceError("s", {}, Exception("x")), False),
        (sa.exc.ProgrammingError("s", {}, Exception("x")), False),
        (sa.exc.TimeoutError("pool exhausted"), False),
        (sa.exc.StatementError("s", "s", {}, OSError("disk full")), False),
        (RootKeyError("x"), False),
        (KeyStoreError("x"), False),
        (OSError("disk full"), False),
        (TypeError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_only_failures_of_the_orders_data_count_as_poison(
    error: Exception, order_failure: bool
) -> None:
    assert is_order_failure(error) is order_failure


def test_a_quarantine_reason_names_the_kind_of_failure_never_the_message() -> None:
    for error in (
        InvalidValueError(CANARY),
        sa.exc.DataError("s", {"v": CANARY}, Exception(CANARY)),
        sa.exc.StatementError(CANARY, CANARY, {}, OverflowError(CANARY)),
    ):
        field, reason = failure_reason(error)
        assert CANARY not in field + reason
        assert reason.startswith("not stored: ")
    assert (
        "OverflowError" in failure_reason(sa.exc.StatementError("s", "s", {}, OverflowError()))[1]
    )

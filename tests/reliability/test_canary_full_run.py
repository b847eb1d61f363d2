"""Canary buyers through a whole deployment: their PII reaches the destination and nothing else.

Both fake marketplaces serve, besides their synthetic orders, buyers whose every PII field is a
unique marker; one of each marketplace's canary orders is malformed, so its payload is
quarantined. A worker process (DEBUG log file, metrics on) pulls both accounts through the real
broker and forwards to four webhooks: one that works, one answering 400 (deliveries go dead at
once), one answering 503 with Retry-After and one refusing connections (retried until dead).
Then the CLI (in this process) scans, expires at a later --now, writes the audit report (HTML
and JSON) and verifies the chain.

Finally every place the run wrote is searched for every canary, in every encoding
`tests.reliability.canary` knows: the data database (each row of each table), the key store
(file bytes and rows), every file of the deployment (logs, the worker's and the commands'
stdout and stderr and tracebacks, reports, configuration), every message of every broker queue
including dead letters (RabbitMQ: every queue of the test's own vhost; Redis: every key of the
test's own database), the metrics endpoint, this process's log records, and what the PostgreSQL
and RabbitMQ servers logged meanwhile.
"""

from __future__ import annotations

import base64
import gzip
import json
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dramatiq
import pika
import pytest
import redis
import sqlalchemy as sa
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from typer.testing import CliRunner

from connectors.fakes.ebay_trading import EbayAccountSpec, EbayFault, FakeEbayTrading
from connectors.fakes.faults import FaultKind
from connectors.fakes.spapi import FakeSpApi
from connectors.fakes.spapi_state import SellerSpec
from crypto import init_local_root_key
from pipeline.cli import app
from pipeline.config import Config, load_config
from pipeline.jobs.actors import FORWARD_QUEUE, Jobs
from pipeline.jobs.broker import make_broker
from pipeline.logs import close_logging, configure_logging
from pipeline.metrics import start_metrics_server
from pipeline.receiver import WebhookReceiver
from pipeline.runtime import Runtime
from storage import upgrade_all
from storage.models import AuditEvent, Delivery, Order, QuarantineEntry, SyncCursor
from tests.fixtures.sshd import free_port
from tests.reliability.canary import (
    RABBITMQCTL,
    Blob,
    Canaries,
    Canary,
    Finding,
    LogMark,
    Searcher,
    database_rows,
    files,
    http_body,
    rabbitmq_messages,
    rabbitmq_queues,
    rabbitmq_vhost,
    redis_keys,
    table_rows,
)
from tests.services import unavailable

# Few orders: a failing destination is tried one row at a time, each attempt after a backoff.
AMAZON_ORDERS = 3
EBAY_ORDERS = 3
EBAY_MALFORMED = 1  # a synthetic broken order besides the planted one
#: Past every order's delivery + 30 days and past the 60-day cap of undelivered orders.
EXPIRE_AFTER = timedelta(days=70)
MAX_ATTEMPTS = 2  # a failed delivery is retried once, then dead
SETTLE_S = 120.0  # a loaded machine; it takes 10-25 s
CLIENT = "acme"
EBAY_TOKEN = "v^1.1#canary-run-token"  # the fake's
EBAY_KEYS = {"app_id": "canary-app", "dev_id": "canary-dev", "cert_id": "canary-cert"}
REDIS_DB = 12  # this test's own; it is flushed before and after
SERVER_LOGS = ("/var/log/postgresql/*.log", "/var/log/rabbitmq/*.log")
TERMINAL = frozenset({"delivered", "dead", "superseded"})

SETTINGS = """\
clients_dir = "clients"
[database]
url = "{data_url}"
[keystore]
url = "sqlite:///var/keys.db"
[kms]
provider = "local"
key_file = "var/root.key"
[broker]
url = "{broker_url}"
[logging]
file = "var/ordervault.log"
level = "DEBUG"
[metrics]
enabled = true
port = {metrics_port}
[outbox]
lease_s = 60.0
lost_after_s = 1.0
max_attempts = {max_attempts}
"""

CLIENT_TOML = """\
id = "acme"
name = "Acme Prints"

[retention]
days_after_delivery = 30

[[amazon]]
account = "acme-eu"
region = "eu"
marketplace_ids = ["A1PA6795UKMFR9"]
orders_api = "2026-01-01"
refresh_token = "file:../secrets/spapi_refresh_token"
lwa_client_id = "file:../secrets/lwa_client_id"
lwa_client_secret = "file:../secrets/lwa_client_secret"
endpoint = "{spapi_url}"
lwa_endpoint = "{lwa_url}"

[[ebay]]
account = "acme-ebay"
site_id = 77
token = "file:../secrets/ebay_token"
app_id = "file:../secrets/ebay_app_id"
dev_id = "file:../secrets/ebay_dev_id"
cert_id = "file:../secrets/ebay_cert_id"
endpoint = "{ebay_url}"
"""

WEBHOOK = """
[[destinations]]
name = "{name}"
type = "webhook"
insecure_loopback = true
url = "{url}"
secret = "file:../secrets/webhook_secret"
ca_file = "{ca_file}"
timeout_s = 5.0
"""

# --- brokers -------------------------------------------------------------------------------


@dataclass
class BrokerUnderTest:
    kind: str  # "rabbitmq", "redis" or "inline"
    url: str
    vhost: str | None = None
    # Inline: the stub broker of the run, kept after it so its queues can be searched.
    stub: StubBroker | None = None

    @property
    def data_url(self) -> str | None:
        """The data database for this variant: PostgreSQL, or (inline) an SQLite file."""
        return "sqlite:///var/data.db" if self.kind == "inline" else None

    def blobs(self) -> Iterator[Blob]:
        """Everything the broker holds: every queue (delay and dead-letter queues included)."""
        if self.vhost is not None:
            yield from rabbitmq_messages(self.url, rabbitmq_queues(self.vhost))
        elif self.kind == "redis":
            yield from redis_keys(self.url)
        else:
            assert self.stub is not None
            for name, queue in sorted(self.stub.queues.items()):
                for number, body in enumerate(list(queue.queue)):
                    yield Blob(f"inline {name} #{number}", body)
            for name, dead in sorted(self.stub.dead_letters_by_queue.items()):
                for number, message in enumerate(dead):
                    yield Blob(f"inline {name}.XQ #{number}", message.encode())

    def plant_dead_letter(self, body: str) -> None:
        """A dead forward message carrying `body`, as a failed actor would leave one."""
        message = dramatiq.Message(
            queue_name=FORWARD_QUEUE,
            actor_name="forward",
            args=(body,),
            kwargs={},
            options={},
            message_id=str(uuid.uuid4()),
        )
        if self.stub is not None:
            self.stub.dead_letters_by_queue[FORWARD_QUEUE].append(MessageProxy(message))
        elif self.vhost is not None:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
            try:
                connection.channel().basic_publish(
                    exchange="", routing_key=f"{FORWARD_QUEUE}.XQ", body=message.encode()
                )
            finally:
                connection.close()
        else:
            client = redis.Redis.from_url(self.url)
            try:
                client.hset(
                    f"ordervault:{FORWARD_QUEUE}.XQ.msgs", message.message_id, message.encode()
                )
            finally:
                client.close()


def _redis_db_url(server_url: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{REDIS_DB}"))


@pytest.fixture(
    params=[
        pytest.param("rabbitmq", marks=[pytest.mark.rabbitmq, pytest.mark.postgres]),
        pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.postgres]),
        pytest.param("inline"),  # data in SQLite: its files are searched byte for byte
    ]
)
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerUnderTest]:
    if request.param == "inline":
        yield BrokerUnderTest("inline", "inline")
        return
    server_url: str = request.getfixturevalue(f"{request.param}_url")
    if request.param == "rabbitmq":
        if not Path(RABBITMQCTL).exists():
            unavailable("RabbitMQ", "rabbitmqctl not found (needed for a vhost of the test's own)")
        with rabbitmq_vhost(server_url) as (vhost, url):
            yield BrokerUnderTest("rabbitmq", url, vhost)
        return
    url = _redis_db_url(server_url)
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield BrokerUnderTest("redis", url)
    finally:
        client.flushdb()
        client.close()


# --- the deployment ------------------------------------------------------------------------


@dataclass
class Run:
    root: Path
    now: datetime
    canaries: Canaries
    spapi: FakeSpApi
    ebay: FakeEbayTrading
    erp: WebhookReceiver
    rejecting: WebhookReceiver
    flaky: WebhookReceiver
    config: Config
    data_url: str
    metrics_port: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def captured(self) -> Path:
        return self.root / "captured"

    def cli(self, name: str, *args: str) -> int:
        """Run `ordervault <args>` (in this process: an interpreter start costs seconds); its
        stdout, stderr and any traceback are kept as files of the deployment, to be searched."""
        result = CliRunner().invoke(
            app, ["--config", str(self.settings), *args], env={"COLUMNS": "200"}
        )
        (self.captured / f"{name}.stdout").write_text(result.stdout)
        stderr = result.stderr
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            stderr += "".join(traceback.format_exception(*result.exc_info))
        (self.captured / f"{name}.stderr").write_text(stderr)
        return result.exit_code

    @property
    def settings(self) -> Path:
        return self.root / "ordervault.toml"

    def start_worker(self) -> subprocess.Popen[bytes]:
        # Files, not pipes: an unread pipe that fills up would block the worker.
        out = (self.captured / "worker.stdout").open("ab")
        err = (self.captured / "worker.stderr").open("ab")
        try:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pipeline.cli",
                    "--config",
                    str(self.settings),
                    "worker",
                    "--processes",
                    "1",
                    "--threads",
                    "4",
                ],
                cwd=self.root,
                stdout=out,
                stderr=err,
            )
        finally:
            out.close()
            err.close()

    def stderr_tail(self, name: str) -> str:
        path = self.captured / f"{name}.stderr"
        # Shown only when the test fails before the search; the canary search covers the file.
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _write_deployment(
    root: Path,
    *,
    data_url: str,
    broker_url: str,
    metrics_port: int,
    spapi: FakeSpApi,
    ebay: FakeEbayTrading,
    webhooks: dict[str, tuple[str, Path]],
    webhook_secret: str,
) -> Path:
    for sub in ("clients", "secrets", "var", "captured", "reports"):
        (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    seller = spapi.seller()
    secrets = {
        "spapi_refresh_token": seller.refresh_token,
        "lwa_client_id": seller.lwa_client_id,
        "lwa_client_secret": seller.lwa_client_secret,
        "ebay_token": EBAY_TOKEN,
        "ebay_app_id": EBAY_KEYS["app_id"],
        "ebay_dev_id": EBAY_KEYS["dev_id"],
        "ebay_cert_id": EBAY_KEYS["cert_id"],
        "webhook_secret": webhook_secret,
    }
    for name, value in secrets.items():
        path = root / "secrets" / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    (root / "ordervault.toml").write_text(
        SETTINGS.format(
            data_url=data_url,
            broker_url=broker_url,
            metrics_port=metrics_port,
            max_attempts=MAX_ATTEMPTS,
        )
    )
    client = CLIENT_TOML.format(
        spapi_url=spapi.url, lwa_url=spapi.lwa_url, ebay_url=ebay.url
    ) + "".join(
        WEBHOOK.format(name=name, url=url, ca_file=ca_file)
        for name, (url, ca_file) in webhooks.items()
    )
    (root / "clients" / f"{CLIENT}.toml").write_text(client)
    return root / "ordervault.toml"


@pytest.fixture
def run(request: pytest.FixtureRequest, tmp_path: Path, broker: BrokerUnderTest) -> Iterator[Run]:
    now = datetime.now(UTC)  # the worker process runs on the real clock
    canaries = Canaries()
    amazon_buyers = (canaries.buyer("amazon"), canaries.buyer("amazon", malformed=True))
    ebay_buyers = (canaries.buyer("ebay"), canaries.buyer("ebay", malformed=True))
    root = tmp_path / "deployment"
    start = now - timedelta(days=25)
    webhook_secret = uuid.uuid4().hex
    with (
        FakeSpApi(
            [SellerSpec(orders=AMAZON_ORDERS, seed=11, planted=amazon_buyers)],
            epoch=now,
            orders_start=start,
            spread_days=10,
        ) as spapi,
        FakeEbayTrading(
            [
                EbayAccountSpec(
                    token=EBAY_TOKEN,
                    orders=EBAY_ORDERS,
                    seed=11,
                    start=start,
                    spread_days=10,
                    malformed=EBAY_MALFORMED,
                    planted=ebay_buyers,
                )
            ],
            keys=EBAY_KEYS,
        ) as ebay,
        WebhookReceiver(root / "receivers" / "erp", secret=webhook_secret) as erp,
        WebhookReceiver(root / "receivers" / "rejecting", secret=webhook_secret) as rejecting,
        WebhookReceiver(root / "receivers" / "flaky", secret=webhook_secret) as flaky,
    ):
        # Error pages that repeat the order, as careless servers do: nothing may copy them.
        rejecting.respond_with(400, echo=True)
        flaky.respond_with(503, retry_after="1", echo=True)
        refused = f"https://127.0.0.1:{free_port()}/orders"  # nothing listens there
        data_url = broker.data_url or request.getfixturevalue("postgres_database_factory")()
        metrics_port = free_port()
        settings = _write_deployment(
            root,
            data_url=data_url,
            broker_url=broker.url,
            metrics_port=metrics_port,
            spapi=spapi,
            ebay=ebay,
            webhooks={
                "erp": (erp.url, erp.ca_file),
                "rejecting": (rejecting.url, rejecting.ca_file),
                "flaky": (flaky.url, flaky.ca_file),
                "refused": (refused, erp.ca_file),
            },
            webhook_secret=webhook_secret,
        )
        config = load_config(settings)
        upgrade_all(config.settings.database.connect_url, config.settings.keystore.url)
        init_local_root_key(config.settings.kms.key_file)
        yield Run(
            root,
            now,
            canaries,
            spapi,
            ebay,
            erp,
            rejecting,
            flaky,
            config,
            config.settings.database.connect_url,
            metrics_port,
        )


# --- waiting for the pipeline --------------------------------------------------------------


ACCOUNTS = (("amazon", "acme-eu"), ("ebay", "acme-ebay"))


@dataclass(frozen=True)
class _State:
    pulled: set[str]  # marketplaces pulled to the end
    failed_pulls: dict[str, int]  # marketplace -> pulls that stopped on an error
    deliveries: dict[tuple[str, str], int]  # (destination, status) -> rows

    @property
    def settled(self) -> bool:
        return len(self.pulled) == len(ACCOUNTS) and all(
            status in TERMINAL for _, status in self.deliveries
        )


def _state(runtime: Runtime) -> _State:
    with runtime.sessions() as session:
        pulled = set(
            session.scalars(
                sa.select(SyncCursor.marketplace).where(
                    SyncCursor.client_id == CLIENT, SyncCursor.stream == "incremental"
                )
            )
        )
        failed: dict[str, int] = {}
        for subject in session.scalars(
            sa.select(AuditEvent.subject).where(AuditEvent.action == "pull_failed")
        ):
            failed[subject["marketplace"]] = failed.get(subject["marketplace"], 0) + 1
        rows = session.execute(
            sa.select(Delivery.destination, Delivery.status, sa.func.count()).group_by(
                Delivery.destination, Delivery.status
            )
        )
        return _State(pulled, failed, {(d, s): int(n) for d, s, n in rows})


def _send_pulls(jobs: Jobs, only: Collection[str] = tuple(m for m, _ in ACCOUNTS)) -> None:
    """What the scheduler sends: one pull per account."""
    sent_at = datetime.now(UTC).isoformat()
    for marketplace, account in ACCOUNTS:
        if marketplace in only:
            jobs.pull.send(CLIENT, marketplace, account, sent_at)


def _settle(run: Run, runtime: Runtime, jobs: Jobs, step: Callable[[], None]) -> dict:
    """Until both accounts are pulled and every delivery is delivered or dead. Meanwhile what
    the scheduler does: pulls again an account whose pull stopped on an error, and sweeps, so
    that failed deliveries come back for their retries."""
    deadline = time.monotonic() + SETTLE_S
    state = _state(runtime)
    retried: dict[str, int] = {}
    while time.monotonic() < deadline:
        step()
        state = _state(runtime)
        if state.settled:
            return state.deliveries
        again = [m for m, n in state.failed_pulls.items() if n > retried.get(m, 0)]
        if again:
            _send_pulls(jobs, only=again)
            retried.update({m: state.failed_pulls[m] for m in again})
        jobs.sweep.send()
        time.sleep(0.5)
    raise AssertionError(f"not settled in {SETTLE_S} s: {state}\n" + run.stderr_tail("worker"))


def _leave_work_waiting(runtime: Runtime, jobs: Jobs) -> int:
    """Messages left in the broker, as after a worker outage: the sweep's re-sends, a pull."""
    with runtime.sessions() as session:
        delivery_ids = list(session.scalars(sa.select(Delivery.id)))
    waiting = jobs.enqueue_deliveries(delivery_ids)
    jobs.pull.send(CLIENT, "amazon", "acme-eu", datetime.now(UTC).isoformat())
    jobs.sweep.send()
    return waiting + 2


def _pull_and_forward_with_worker(run: Run) -> tuple[dict, Blob, int]:
    """A worker process consumes the real broker; this process sends what the scheduler would."""
    runtime = Runtime.open(run.config)
    jobs = Jobs(make_broker(run.config.settings.broker.connect_url), runtime)
    try:
        worker = run.start_worker()
        try:

            def alive() -> None:
                assert worker.poll() is None, "the worker died:\n" + run.stderr_tail("worker")

            _send_pulls(jobs)
            counts = _settle(run, runtime, jobs, alive)
            metrics = http_body(f"http://127.0.0.1:{run.metrics_port}/metrics", "metrics")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        return counts, metrics, _leave_work_waiting(runtime, jobs)
    finally:
        jobs.close()
        jobs.broker.close()
        runtime.close()


def _pull_and_forward_inline(run: Run, broker: BrokerUnderTest) -> tuple[dict, Blob, int]:
    """The inline broker: this process is the worker, logging and serving metrics as one."""
    configure_logging(run.config.settings.logging)
    server = start_metrics_server("127.0.0.1", run.metrics_port)
    runtime = Runtime.open(run.config)
    stub = make_broker("inline")
    assert isinstance(stub, StubBroker)
    broker.stub = stub
    jobs = Jobs(stub, runtime)
    try:
        _send_pulls(jobs)
        counts = _settle(run, runtime, jobs, jobs.drain)
        metrics = http_body(f"http://127.0.0.1:{run.metrics_port}/metrics", "metrics")
        jobs.close()  # stops the in-process worker: what is sent next stays in the queues
        return counts, metrics, _leave_work_waiting(runtime, jobs)
    finally:
        jobs.close()
        runtime.close()
        server.close()
        close_logging()


def _orders_with_pii(data_url: str) -> int:
    engine = sa.create_engine(data_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    sa.select(sa.func.count())
                    .select_from(Order)
                    .where(Order.pii_ciphertext.is_not(None))
                )
                or 0
            )
    finally:
        engine.dispose()


# --- the test ------------------------------------------------------------------------------


def test_canaries_reach_the_destination_and_nothing_else(
    run: Run, broker: BrokerUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    began = time.monotonic()
    marks = [mark for pattern in SERVER_LOGS for mark in LogMark.of(pattern)]
    # Each marketplace's first answer is cut off inside a canary buyer, as a dropped connection
    # leaves it: the connectors' errors, logs and audit events must not quote what they got.
    markers = {c.label: c.marker for c in run.canaries.all}
    run.spapi.faults.inject(
        FaultKind.TRUNCATED, operation="orders.searchOrders", cut_after=markers["amazon.email"]
    )
    run.ebay.inject(EbayFault.CUT, cut_after=markers["ebay.email"])
    if broker.kind == "inline":
        counts, metrics, waiting = _pull_and_forward_inline(run, broker)
    else:
        counts, metrics, waiting = _pull_and_forward_with_worker(run)
    run.timings["pull and forward"] = time.monotonic() - began
    with Runtime.open(run.config) as runtime, runtime.sessions() as session:
        stored = session.scalar(sa.select(sa.func.count()).select_from(Order)) or 0
        quarantined = list(session.scalars(sa.select(QuarantineEntry.marketplace_order_id)))

    # What happened is what the test set up.
    assert run.spapi.faults.pending() == 0
    assert run.ebay.pending_faults() == 0
    malformed_ids = sorted(
        [o.order_id for o in run.ebay.orders() if o.malformed]
        + [run.spapi.orders()[-1].order_id]  # the planted malformed Amazon order comes last
    )
    # (A malformed order is quarantined again by every pull that sees it.)
    assert sorted(set(map(str, quarantined))) == malformed_ids
    assert stored == len(run.spapi.orders()) + len(run.ebay.orders()) - len(malformed_ids)
    assert counts == {
        ("erp", "delivered"): stored,
        ("rejecting", "dead"): stored,
        ("flaky", "dead"): stored,
        ("refused", "dead"): stored,
    }
    assert run.rejecting.stats.forced == stored
    assert run.flaky.stats.forced == MAX_ATTEMPTS * stored

    # The canaries arrived where they were sent: the search below could find them.
    received = json.dumps(run.erp.orders, ensure_ascii=False).encode()
    searcher = Searcher([*run.canaries.all, run.canaries.fragment])
    expected = [c for c in run.canaries.all if c.expected_at_destination]
    missing = [c.label for c in expected if not searcher.contains(received, c)]
    assert not missing, f"canaries missing at the working destination: {missing}"

    # The operator's side: scan, expire later, report, verify.
    later = (run.now + EXPIRE_AFTER).isoformat()
    since = (run.now - timedelta(days=1)).date().isoformat()
    reports = run.root / "reports"
    steps = {
        "scan-before-expiry": ("audit", "scan"),
        "expire": ("expire", "--now", later),
        "report-html": ("audit", "report", "--format", "html", "--out", f"{reports}/audit.html"),
        "report-json": ("audit", "report", "--format", "json", "--out", f"{reports}/audit.json"),
        "verify": ("audit", "verify"),
        "scan-after-expiry": ("audit", "scan"),
    }
    exits: dict[str, int] = {}
    for name, args in steps.items():
        if name.startswith("report"):
            args = (*args, "--now", later, "--since", since)
        started = time.monotonic()
        exits[name] = run.cli(name, *args)
        run.timings[name] = time.monotonic() - started
    assert exits["expire"] == 0, run.stderr_tail("expire")
    assert exits["verify"] == 0, run.stderr_tail("verify")
    # The product's own leak scan (patterns and blind-index lookups) agrees.
    assert exits["scan-before-expiry"] == 0, (
        run.captured / "scan-before-expiry.stdout"
    ).read_text()
    assert exits["scan-after-expiry"] == 0, (run.captured / "scan-after-expiry.stdout").read_text()
    assert (reports / "audit.html").stat().st_size > 0
    assert (reports / "audit.json").stat().st_size > 0
    readable = _orders_with_pii(run.data_url)
    assert readable == 0, f"{readable} orders still hold PII after expiry"

    # The search.
    findings: list[Finding] = []
    findings += searcher.search(files(run.root), "deployment files")
    findings += searcher.search(database_rows(run.data_url, "data"), "data database rows")
    keystore_url = run.config.settings.keystore.url
    findings += searcher.search(database_rows(keystore_url, "keystore"), "key store rows")
    findings += searcher.search(broker.blobs(), f"{broker.kind} messages and keys")
    findings += searcher.search([metrics], "metrics")
    findings += searcher.search([Blob("test process log", caplog.text.encode())], "test log")
    findings += searcher.search([mark.appended() for mark in marks], "server logs")
    run.timings["search"] = time.monotonic() - began - sum(run.timings.values())
    run.timings["total"] = time.monotonic() - began

    audit_rows = table_rows(run.data_url, "audit_events")
    print(
        f"\n{broker.kind}: {stored} orders, {len(malformed_ids)} quarantined, "
        f"{waiting} message(s) left waiting; {len(run.canaries.all)} canaries; "
        f"searched {searcher.blobs} blobs ({searcher.bytes / 1e6:.1f} MB): {searcher.places}; "
        f"{audit_rows} audit events; command exits {exits}; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
    )
    assert audit_rows > 0
    assert b"ordervault_deliveries" in metrics.data
    assert not findings, "canaries outside the destination:\n" + "\n".join(
        str(f) for f in sorted(set(findings))
    )

    # The broker search reads dead letters too: one planted there is found.
    control = Canary("control.dead-letter", "", f"cnrycontrol{run.canaries.run}", False)
    broker.plant_dead_letter(f"{control.marker}@example.invalid")
    found = Searcher([control]).search(broker.blobs(), "control")
    assert [f.label for f in found] == [control.label], found


def test_the_search_finds_a_canary_in_every_encoding(tmp_path: Path) -> None:
    canaries = Canaries()
    canaries.buyer("ebay")
    email = next(c for c in canaries.all if c.label == "ebay.email")
    marker = email.marker
    shapes = {
        "utf-8": f"line one\nsent to {email.value.upper()}\n".encode(),
        "utf-16": email.value.encode("utf-16-le"),
        "json-escaped": json.dumps({"to": email.value.replace("c", "ç")}).encode()
        + b"".join(f"\\u{ord(c):04X}".encode() for c in marker),
        "percent-encoded": "".join(f"%{b:02X}" for b in marker.encode()).encode(),
        "hex": b"\\x" + email.value.encode().hex().encode(),
    }
    for offset in range(3):
        wrapped = b"ab"[:offset] + email.value.encode() + b"xyz"
        shapes[f"base64 {offset}"] = base64.b64encode(wrapped)
        shapes[f"base64url {offset}"] = base64.urlsafe_b64encode(wrapped)
    (tmp_path / "log.gz").write_bytes(gzip.compress(shapes["utf-8"]))
    searcher = Searcher(canaries.all)
    for shape, data in shapes.items():
        found = searcher.search([Blob("file x.log", data)], "unit")
        assert {f.label for f in found} == {"ebay.email"}, shape
        expected = shape.split()[0].replace("base64url", "base64")
        assert expected in {f.encoding for f in found}, (shape, found)
    assert str(searcher.search([Blob("file x.log", shapes["utf-8"])], "unit")[0]).endswith(
        "file x.log:2 (utf-8)"
    )
    found = searcher.search(files(tmp_path), "unit")
    assert [f.where for f in found] == ["file log.gz (gunzipped):2"]
    clean = json.dumps({"to": "someone@example.invalid", "id": canaries.run}).encode()
    assert searcher.search([Blob("clean", clean)], "unit") == []

"""Secrets never reach a log or a database (issue 8).

A deployment is configured with canary secrets (a unique marker in each): the LWA refresh token
and client secret, the eBay user token and cert id, the webhook signing secret and the webhook's
client-certificate key, and, where sshd is installed, the SFTP private key. The fake
marketplaces and the receiver accept exactly those, so a run that delivers proves every secret
was used. Both marketplaces are pulled and forwarded with DEBUG logging on (the receiver fails
eBay's deliveries, so error paths log too); then the log file, every captured log record, every
row of both databases and every file the run left behind (SQLite files and their journals
included) are searched for the markers. Only the secret files themselves may hold them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.ebay import InMemoryCallBudget
from connectors.fakes.ebay_trading import EbayAccountSpec, FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from connectors.fakes.spapi_state import SellerSpec
from connectors.ratelimit import BlockingLimiter, MemoryBuckets
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.logs import close_logging, configure_logging
from pipeline.pull import Puller
from pipeline.receiver import WebhookReceiver
from tests.configs import ENVIRON
from tests.fixtures.marketplaces import ORDERS_AGE, ORDERS_SPREAD_DAYS
from tests.fixtures.runtime import Deployment, FakeClock
from tests.fixtures.sshd import SshServer

#: secret -> how its value looks, around the marker that makes it findable.
SECRET_SHAPES = {
    "refresh_token": "Atzr|{}",
    "lwa_client_secret": "amzn1.oa2-cs.v1.{}",
    "ebay_token": "v^1.1#i^1#p^3#r^1#{}",
    "ebay_cert_id": "PRD-{}",
    "webhook_secret": "whsec-{}",
}
AMAZON_ORDERS = 8
EBAY_ORDERS = 6


@pytest.fixture
def markers() -> dict[str, str]:
    """secret name -> the unique text that must appear nowhere but in its secret file."""
    return {name: f"canary{uuid.uuid4().hex}" for name in SECRET_SHAPES}


@pytest.fixture
def secrets(markers: dict[str, str]) -> dict[str, str]:
    return {name: shape.format(markers[name]) for name, shape in SECRET_SHAPES.items()}


@pytest.fixture
def extra_settings() -> str:
    return 'level = "DEBUG"\n'  # lands in [logging], the settings file's last table


@pytest.fixture
def canary_spapi(clock: FakeClock, secrets: dict[str, str]) -> Iterator[FakeSpApi]:
    seller = SellerSpec(
        refresh_token=secrets["refresh_token"],
        lwa_client_id=ENVIRON["SPAPI_LWA_CLIENT_ID"],
        lwa_client_secret=secrets["lwa_client_secret"],
        orders=AMAZON_ORDERS,
        seed=3,
    )
    with FakeSpApi(
        [seller],
        time_scale=2000.0,
        epoch=clock.now,
        orders_start=clock.now - ORDERS_AGE,
        spread_days=ORDERS_SPREAD_DAYS,
    ) as fake:
        yield fake


@pytest.fixture
def canary_ebay(clock: FakeClock, secrets: dict[str, str]) -> Iterator[FakeEbayTrading]:
    account = EbayAccountSpec(
        token=secrets["ebay_token"],
        orders=EBAY_ORDERS,
        seed=5,
        start=clock.now - ORDERS_AGE,
        spread_days=ORDERS_SPREAD_DAYS,
        malformed=1,  # quarantined: the raw payload is stored (sealed) too
    )
    keys = {
        "app_id": ENVIRON["EBAY_APP_ID"],
        "dev_id": ENVIRON["EBAY_DEV_ID"],
        "cert_id": secrets["ebay_cert_id"],
    }
    with FakeEbayTrading([account], keys=keys) as fake:
        yield fake


@pytest.fixture
def receiver(tmp_path: Path, secrets: dict[str, str]) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(
        tmp_path / "receiver", secret=secrets["webhook_secret"], require_client_certificate=True
    ) as running:
        yield running


def key_marker(key_file: Path) -> str:
    """A run of the private key's base64 body: long enough to be unique, short enough to be
    found even where a PEM was re-wrapped."""
    body = "".join(line for line in key_file.read_text().splitlines() if "-----" not in line)
    return body[8:56]


@pytest.fixture(params=["webhook", "webhook+sftp"])
def acme_toml(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    canary_spapi: FakeSpApi,
    canary_ebay: FakeEbayTrading,
    receiver: WebhookReceiver,
    secrets: dict[str, str],
    markers: dict[str, str],
) -> str:
    """acme's client file, every secret in a file of its own under deploy/secrets.

    The files are named canary_*: the deployment fixture writes a lwa_client_secret of its own.
    """
    secrets_dir = tmp_path / "deploy" / "secrets"
    secrets_dir.mkdir(parents=True)
    for name, value in secrets.items():
        (secrets_dir / f"canary_{name}").write_text(value + "\n")
    cert_file, key_file = receiver.issue_client_certificate()
    (secrets_dir / "canary_webhook_client_key").write_text(key_file.read_text())
    markers["webhook_client_key"] = key_marker(key_file)
    text = f"""
id = "acme"
name = "Acme Prints"

[retention]
days_after_delivery = 30

[[amazon]]
account = "acme-eu"
region = "eu"
marketplace_ids = ["A1PA6795UKMFR9"]
orders_api = "2026-01-01"
refresh_token = "file:../secrets/canary_refresh_token"
lwa_client_id = "env:SPAPI_LWA_CLIENT_ID"
lwa_client_secret = "file:../secrets/canary_lwa_client_secret"
endpoint = "{canary_spapi.url}"
lwa_endpoint = "{canary_spapi.lwa_url}"

[[ebay]]
account = "acme-ebay"
site_id = 3
token = "file:../secrets/canary_ebay_token"
app_id = "env:EBAY_APP_ID"
dev_id = "env:EBAY_DEV_ID"
cert_id = "file:../secrets/canary_ebay_cert_id"
endpoint = "{canary_ebay.url}"

[[destinations]]
name = "erp"
type = "webhook"
url = "{receiver.url}"
secret = "file:../secrets/canary_webhook_secret"
insecure_loopback = true
ca_file = "{receiver.ca_file}"
client_cert = "{cert_file}"
client_key = "file:../secrets/canary_webhook_client_key"
"""
    if request.param == "webhook+sftp":
        sshd: SshServer = request.getfixturevalue("sshd")
        remote = sshd.upload_root / f"secrets-{uuid.uuid4().hex[:8]}"
        remote.mkdir()
        (secrets_dir / "canary_sftp_key").write_text(sshd.client_key_file.read_text())
        markers["sftp_private_key"] = key_marker(sshd.client_key_file)
        text += f"""
[[destinations]]
name = "warehouse"
type = "sftp"
host = "{sshd.host}"
port = {sshd.port}
username = "{sshd.username}"
private_key = "file:../secrets/canary_sftp_key"
host_key = "{sshd.host_key}"
remote_dir = "{remote}"
"""
    return text


def found_in(data: bytes, markers: dict[str, str]) -> set[str]:
    return {name for name, marker in markers.items() if marker.encode() in data}


def database_dump(engine: sa.Engine) -> bytes:
    """Every value of every row of every table, as bytes."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    chunks: list[bytes] = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(chunks)


def run_everything(deployment: Deployment, spapi: FakeSpApi, receiver: WebhookReceiver) -> None:
    jobs = Jobs(make_broker("inline"), deployment.runtime)
    limiter = BlockingLimiter(MemoryBuckets(), clock=spapi.clock.now, sleep=spapi.clock.sleep)
    puller = Puller(
        deployment.runtime, jobs, limiter, InMemoryCallBudget(), sleep=spapi.clock.sleep
    )
    client = deployment.config.client("acme")
    try:
        amazon = puller.pull(client, client.amazon[0])
        jobs.drain()
        assert receiver.stats.accepted == AMAZON_ORDERS  # signed, client certificate shown
        # eBay's orders meet a receiver that fails and echoes what it got: error paths log.
        receiver.respond_with(500, echo=True)
        ebay = puller.pull(client, client.ebay[0])
        jobs.drain()
    finally:
        jobs.close()
    assert (amazon.error, ebay.error) == (None, None)
    assert (amazon.created, ebay.created) == (AMAZON_ORDERS, EBAY_ORDERS - 1)
    assert receiver.stats.forced > 0


def test_secrets_reach_neither_logs_nor_databases(
    deployment: Deployment,
    canary_spapi: FakeSpApi,
    receiver: WebhookReceiver,
    markers: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    configure_logging(deployment.config.settings.logging)
    try:
        run_everything(deployment, canary_spapi, receiver)
    finally:
        close_logging()
    # Every secret was used: the marketplaces took the credentials, the receiver checked the
    # signatures and the client certificate.
    assert receiver.stats.rejected == 0

    secrets_dir = deployment.root / "secrets"
    planted = b"".join(path.read_bytes() for path in secrets_dir.iterdir())
    assert found_in(planted, markers) == set(markers)  # the search finds what is there

    leaks: dict[str, set[str]] = {}
    log_file = Path(str(deployment.config.settings.logging.file))
    assert log_file.stat().st_size > 0
    records = "\n".join(
        [r.getMessage() + (r.exc_text or "") for r in caplog.records] + [caplog.text]
    )
    leaks["log records"] = found_in(records.encode(), markers)
    for name, db in (("data database", deployment.data_db), ("key store", deployment.keystore_db)):
        leaks[name] = found_in(database_dump(db.engine), markers)
    for path in sorted(tmp_path.rglob("*")):
        if (
            path.is_file()
            and secrets_dir not in path.parents
            and receiver.folder not in path.parents
        ):
            leaks[str(path.relative_to(tmp_path))] = found_in(path.read_bytes(), markers)
    # The signing secret signs requests; it never travels in one.
    for index, sent in enumerate(receiver.requests):
        leaks[f"webhook request {index}"] = found_in(
            sent.body + repr(sent.headers).encode(), {"webhook_secret": markers["webhook_secret"]}
        )
    assert {where: names for where, names in leaks.items() if names} == {}

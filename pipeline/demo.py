"""The demo: a whole deployment on embedded defaults in a work folder, run end to end.

It starts a fake SP-API, a fake eBay Trading API and an HTTPS webhook receiver on loopback,
writes its own config (SQLite data and key store, a local root key, the inline broker, secrets
in files), then runs what the product does. Buyers are synthetic (DPP 2.5).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from connectors.fakes.ebay_trading import DEFAULT_KEYS, EbayAccountSpec, FakeEbayTrading
from connectors.fakes.spapi import FakeSpApi
from connectors.fakes.spapi_state import SellerSpec
from crypto import init_local_root_key
from pipeline.access import Purpose, open_order
from pipeline.clients import AmazonAccount, EbayAccount
from pipeline.config import load_config
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.pull import Puller, PullReport
from pipeline.receiver import WebhookReceiver
from pipeline.report import Scope, compute_report, render
from pipeline.retention import run_expiry
from pipeline.runtime import Runtime
from storage import audit, outbox, upgrade_all
from storage.models import Order

MARKER = ".ordervault-demo"
CLIENT_ID = "demo-prints"
EBAY_TOKEN = "v^1.1#demo-oauth-user-token"  # noqa: S105 (the fake's, not a real one)
#: How far the demo moves the clock to show retention: past delivery + 30 days and past the
#: 60-day cap of orders never delivered (the oldest demo order was bought 25 days ago).
EXPIRE_AFTER_DAYS = 70

SETTINGS = """\
clients_dir = "clients"
[database]
url = "sqlite:///var/data.db"
[keystore]
url = "sqlite:///var/keys.db"
[kms]
provider = "local"
key_file = "var/root.key"
[broker]
url = "inline"
[logging]
file = "var/ordervault.log"
"""

CLIENT = """\
id = "demo-prints"
name = "Demo Prints Ltd"

[retention]
days_after_delivery = 30

[[amazon]]
account = "demo-eu"
region = "eu"
marketplace_ids = ["A1PA6795UKMFR9"]
refresh_token = "file:../secrets/spapi_refresh_token"
lwa_client_id = "file:../secrets/lwa_client_id"
lwa_client_secret = "file:../secrets/lwa_client_secret"
endpoint = "{spapi_url}"
lwa_endpoint = "{lwa_url}"

[[ebay]]
account = "demo-ebay"
site_id = 3
token = "file:../secrets/ebay_token"
app_id = "file:../secrets/ebay_app_id"
dev_id = "file:../secrets/ebay_dev_id"
cert_id = "file:../secrets/ebay_cert_id"
endpoint = "{ebay_url}"

[[destinations]]
name = "erp"
type = "webhook"
url = "{webhook_url}"
secret = "file:../secrets/webhook_secret"
insecure_loopback = true               # the demo's receiver listens on 127.0.0.1 (still HTTPS)
ca_file = "{ca_file}"

[[destinations]]
name = "archive"
type = "directory"
path = "../delivered"
batch_size = 100
"""


@dataclass
class DemoReport:
    workdir: Path
    steps: list[tuple[str, str]] = field(default_factory=list)

    def add(self, step: str, outcome: str) -> None:
        self.steps.append((step, outcome))


@dataclass(frozen=True)
class _Services:
    spapi: FakeSpApi
    ebay: FakeEbayTrading
    receiver: WebhookReceiver
    webhook_secret: str


def clear_workdir(workdir: Path) -> None:
    """Empty `workdir` if it is a demo folder (or empty); refuse anything else."""
    if workdir.exists():
        if not (workdir / MARKER).exists() and any(workdir.iterdir()):
            raise FileExistsError(f"{workdir} exists and is not a demo folder; choose another")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, mode=0o700)
    (workdir / MARKER).write_text("made by `ordervault demo`; deleted and rewritten by it\n")


@contextmanager
def _services(workdir: Path, *, now: datetime, orders_per_account: int) -> Iterator[_Services]:
    """The marketplaces and the client's receiver, on loopback, for the demo's lifetime."""
    start = now - timedelta(days=25)  # old enough that every order is in the first pull
    with ExitStack() as stack:
        spapi = stack.enter_context(
            FakeSpApi(
                [SellerSpec(orders=orders_per_account, seed=7)],
                epoch=now,
                orders_start=start,
                spread_days=20,
            )
        )
        ebay = stack.enter_context(
            FakeEbayTrading(
                [
                    EbayAccountSpec(
                        token=EBAY_TOKEN,
                        orders=orders_per_account,
                        seed=7,
                        start=start,
                        spread_days=20,
                        malformed=1,  # one broken payload: quarantined, sealed
                    )
                ]
            )
        )
        webhook_secret = secrets.token_hex(24)
        receiver = stack.enter_context(WebhookReceiver(workdir / "receiver", secret=webhook_secret))
        yield _Services(spapi, ebay, receiver, webhook_secret)


def _write_config(workdir: Path, services: _Services) -> Path:
    for sub in ("clients", "secrets", "var", "delivered"):
        (workdir / sub).mkdir(mode=0o700, exist_ok=True)
    seller = SellerSpec()
    secret_values = {
        "spapi_refresh_token": seller.refresh_token,
        "lwa_client_id": seller.lwa_client_id,
        "lwa_client_secret": seller.lwa_client_secret,
        "ebay_token": EBAY_TOKEN,
        "ebay_app_id": DEFAULT_KEYS["app_id"],
        "ebay_dev_id": DEFAULT_KEYS["dev_id"],
        "ebay_cert_id": DEFAULT_KEYS["cert_id"],
        "webhook_secret": services.webhook_secret,
    }
    for name, value in secret_values.items():
        path = workdir / "secrets" / name
        path.write_text(value + "\n")
        os.chmod(path, 0o600)
    (workdir / "ordervault.toml").write_text(SETTINGS)
    client = (
        CLIENT.replace("{spapi_url}", services.spapi.url)
        .replace("{lwa_url}", services.spapi.lwa_url)
        .replace("{ebay_url}", services.ebay.url)
        .replace("{webhook_url}", services.receiver.url)
        .replace("{ca_file}", str(services.receiver.ca_file))
    )
    (workdir / "clients" / f"{CLIENT_ID}.toml").write_text(client)
    return workdir / "ordervault.toml"


def run_demo(
    workdir: Path,
    *,
    now: datetime,
    orders_per_account: int = 150,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoReport:
    report = DemoReport(workdir)
    clear_workdir(workdir)
    with _services(workdir, now=now, orders_per_account=orders_per_account) as services:
        config = load_config(_write_config(workdir, services))
        report.add(
            "config",
            f"{config.path}: client {CLIENT_ID!r} with fake Amazon ({services.spapi.url}), "
            f"fake eBay ({services.ebay.url}), HTTPS webhook and directory destinations",
        )
        settings = config.settings
        upgrade_all(settings.database.connect_url, settings.keystore.url)
        report.add("migrate", "data database and key store (separate SQLite files) at newest")
        init_local_root_key(settings.kms.key_file)
        report.add("root key", f"{settings.kms.key_file} (mode 0600)")
        client = config.client(CLIENT_ID)
        with Runtime.open(config, clock=lambda: now) as runtime:
            jobs = Jobs(make_broker(settings.broker.connect_url), runtime)
            try:
                puller = Puller.for_runtime(runtime, jobs)
                accounts: list[tuple[str, AmazonAccount | EbayAccount]] = [
                    ("amazon", client.amazon[0]),
                    ("ebay", client.ebay[0]),
                ]
                for done, (marketplace, account) in enumerate(accounts, 1):
                    pulled = puller.pull(client, account)
                    report.add(f"pull {marketplace}", _pulled(pulled))
                    if progress:
                        progress("pulling", done, len(accounts))
                jobs.drain()
                stats = services.receiver.stats
                delivered_files = sorted((workdir / "delivered").glob("*.jsonl"))
                report.add(
                    "forward",
                    f"webhook receiver (HTTPS, signatures verified) accepted {stats.accepted} "
                    f"orders, rejected {stats.rejected}; directory got {len(delivered_files)} "
                    "JSONL file(s) (mode 0600)",
                )
                again = [puller.pull(client, account) for _, account in accounts]
                report.add(
                    "pull again",
                    f"{sum(r.created + r.updated for r in again)} new or changed "
                    "(cursors resume; the overlap is a no-op)",
                )
            finally:
                jobs.close()
            _audited_open(runtime, report)
            status = runtime.vault.key_status(CLIENT_ID)
            cache = runtime.vault.cache_stats()
            report.add(
                "keys",
                f"{status.active_buckets} bucket keys active, next destruction "
                f"{status.next_destruction_day}; key cache {cache.hits} hits / "
                f"{cache.misses} misses",
            )
            with runtime.sessions() as session:
                counts = outbox.counts_by_status(session, client_id=CLIENT_ID)
            report.add("outbox", _counts(counts))
        # Time travel: past every order's delivery + retention and every undelivered cap.
        later = now + timedelta(days=EXPIRE_AFTER_DAYS)
        with Runtime.open(config, clock=lambda: later) as runtime:
            expired = run_expiry(runtime)
            readable = _readable_orders(runtime)
            with runtime.sessions() as session:
                verified = audit.verify(session)
            report.add(
                f"expire at +{EXPIRE_AFTER_DAYS} d",
                f"{len(expired.buckets)} bucket keys destroyed (commitments kept), "
                f"{expired.orders_shredded} orders shredded; orders with readable PII left: "
                f"{readable}",
            )
            if readable:
                raise RuntimeError(f"{readable} orders still hold PII after their retention")
            if not verified.ok:
                raise RuntimeError(f"audit chain broken at event {verified.first_bad_id}")
            report.add("audit chain", f"OK, {verified.checked} event(s) verified")
            evidence = compute_report(
                runtime, Scope.make(later, since=(now - timedelta(days=30)).date())
            )
            out = workdir / "audit-report.html"
            out.write_text(render(evidence, "html"), encoding="utf-8")
            failed = [c.id for c in evidence.checks if not c.passed]
            report.add(
                "audit report",
                f"{out} ({len(evidence.checks)} DPP checks, "
                + (f"FAILED: {', '.join(failed)})" if failed else "all pass)"),
            )
    return report


def _readable_orders(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Order)
                .where(Order.pii_ciphertext.is_not(None))
            )
            or 0
        )


def _pulled(r: PullReport) -> str:
    text = f"{r.pages} page(s): {r.created} new orders sealed and stored"
    if r.quarantined:
        text += f", {r.quarantined} broken payload(s) quarantined (sealed)"
    if r.error:
        text += f"; stopped: {r.error}"
    return text


def _audited_open(runtime: Runtime, report: DemoReport) -> None:
    with runtime.sessions() as session:
        order_id = session.scalar(
            sa.select(Order.id).where(Order.pii_ciphertext.is_not(None)).order_by(Order.id)
        )
    if order_id is None:
        raise RuntimeError("no sealed order was stored")
    opened = open_order(runtime, order_id, purpose=Purpose.DEMO, actor="demo")
    report.add(
        "audited open",
        f"order {opened.marketplace_order_id} opened for purpose 'demo'; the access is logged",
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if n) or "none"

"""The demo: a whole deployment on embedded defaults in a work folder, run end to end.

It writes its own config (SQLite data and key store, a local root key, the inline broker,
secrets in files), then runs what the product does. Buyers are synthetic (DPP 2.5).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from connectors.order import Marketplace
from connectors.synthetic import synthetic_orders
from crypto import init_local_root_key
from pipeline.access import Purpose, open_order
from pipeline.config import Config, load_config
from pipeline.ingest import Ingestor
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker
from pipeline.receiver import WebhookReceiver
from pipeline.runtime import Runtime
from storage import audit, outbox, upgrade_all

MARKER = ".ordervault-demo"
CLIENT_ID = "demo-prints"

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
endpoint = "http://127.0.0.1:8701"
lwa_endpoint = "http://127.0.0.1:8701/auth/o2/token"

[[ebay]]
account = "demo-ebay"
site_id = 3
token = "file:../secrets/ebay_token"
app_id = "file:../secrets/ebay_app_id"
dev_id = "file:../secrets/ebay_dev_id"
cert_id = "file:../secrets/ebay_cert_id"
endpoint = "http://127.0.0.1:8702"

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

SECRET_FILES = (
    "spapi_refresh_token",
    "lwa_client_id",
    "lwa_client_secret",
    "ebay_token",
    "ebay_app_id",
    "ebay_dev_id",
    "ebay_cert_id",
    "webhook_secret",
)


@dataclass
class DemoReport:
    workdir: Path
    steps: list[tuple[str, str]] = field(default_factory=list)

    def add(self, step: str, outcome: str) -> None:
        self.steps.append((step, outcome))


def clear_workdir(workdir: Path) -> None:
    """Empty `workdir` if it is a demo folder (or empty); refuse anything else."""
    if workdir.exists():
        if not (workdir / MARKER).exists() and any(workdir.iterdir()):
            raise FileExistsError(f"{workdir} exists and is not a demo folder; choose another")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, mode=0o700)
    (workdir / MARKER).write_text("made by `ordervault demo`; deleted and rewritten by it\n")


def prepare_workdir(workdir: Path, *, webhook_url: str, ca_file: Path) -> Path:
    """Write a demo deployment into the (cleared) `workdir`; return its settings file."""
    for sub in ("clients", "secrets", "var", "delivered"):
        (workdir / sub).mkdir(parents=True, mode=0o700, exist_ok=True)
    for name in SECRET_FILES:
        path = workdir / "secrets" / name
        if path.exists():
            continue
        path.write_text(f"demo-{name}-{secrets.token_hex(8)}\n")
        os.chmod(path, 0o600)
    (workdir / "ordervault.toml").write_text(SETTINGS)
    client = CLIENT.replace("{webhook_url}", webhook_url).replace("{ca_file}", str(ca_file))
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
    (workdir / "secrets").mkdir(mode=0o700)
    webhook_secret = secrets.token_hex(24)
    secret_file = workdir / "secrets" / "webhook_secret"
    secret_file.write_text(webhook_secret + "\n")
    os.chmod(secret_file, 0o600)
    with WebhookReceiver(workdir / "receiver", secret=webhook_secret) as receiver:
        _run(
            report,
            workdir,
            receiver,
            now=now,
            orders_per_account=orders_per_account,
            progress=progress,
        )
    return report


def _run(
    report: DemoReport,
    workdir: Path,
    receiver: WebhookReceiver,
    *,
    now: datetime,
    orders_per_account: int,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    config_file = prepare_workdir(workdir, webhook_url=receiver.url, ca_file=receiver.ca_file)
    config: Config = load_config(config_file)
    report.add("config", f"{config_file} with client {CLIENT_ID!r} (config check OK)")
    settings = config.settings
    upgrade_all(settings.database.url, settings.keystore.url)
    report.add("migrate", "data database and key store at the newest schema")
    init_local_root_key(settings.kms.key_file)
    report.add("root key", f"{settings.kms.key_file} (mode 0600)")
    client = config.client(CLIENT_ID)
    with Runtime.open(config, clock=lambda: now) as runtime:
        ingest = Ingestor(runtime)
        orders = [
            order
            for account, marketplace in (
                (client.amazon[0].account, Marketplace.AMAZON),
                (client.ebay[0].account, Marketplace.EBAY),
            )
            for order in synthetic_orders(
                client_id=CLIENT_ID,
                account=account,
                marketplace=marketplace,
                count=orders_per_account,
                start=now - timedelta(days=20),
                spread_days=19,
                seed=7,
            )
        ]
        outcomes: dict[str, int] = {}
        delivery_ids: list[int] = []
        for done, order in enumerate(orders, 1):
            result = ingest.store(client, order)
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            delivery_ids += result.delivery_ids
            if progress:
                progress("sealing and storing", done, len(orders))
        report.add("store", f"{len(orders)} synthetic orders: " + _counts(outcomes))
        jobs = Jobs(make_broker(settings.broker.url), runtime)
        try:
            messages = jobs.enqueue_deliveries(delivery_ids)
            jobs.drain()
        finally:
            jobs.close()
        stats = receiver.stats
        report.add(
            "forward",
            f"{len(delivery_ids)} deliveries in {messages} message(s) via the inline broker: "
            f"webhook receiver (HTTPS, signatures verified) accepted {stats.accepted}, "
            f"rejected {stats.rejected}; directory got "
            f"{sum(1 for _ in (workdir / 'delivered').glob('*.jsonl'))} JSONL file(s)",
        )
        repeat = [ingest.store(client, order).outcome for order in orders]
        report.add(
            "store again",
            f"{repeat.count('unchanged')} of {len(repeat)} unchanged (idempotent, nothing sealed)",
        )
        first_id = _first_order_id(runtime)
        opened = open_order(runtime, first_id, purpose=Purpose.DEMO, actor="demo")
        report.add(
            "audited open",
            f"order {opened.marketplace_order_id} opened for purpose 'demo'; access logged",
        )
        status = runtime.vault.key_status(CLIENT_ID)
        cache = runtime.vault.cache_stats()
        report.add(
            "keys",
            f"{status.active_buckets} bucket keys active, next destruction "
            f"{status.next_destruction_day}; cache {cache.hits} hits / {cache.misses} misses",
        )
        with runtime.sessions() as session:
            counts = outbox.counts_by_status(session, client_id=CLIENT_ID)
            verified = audit.verify(session)
        report.add("outbox", _counts(counts))
        if not verified.ok:
            raise RuntimeError(f"audit chain broken at event {verified.first_bad_id}")
        report.add("audit chain", f"OK, {verified.checked} event(s) verified")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if n) or "none"


def _first_order_id(runtime: Runtime) -> int:
    import sqlalchemy as sa

    from storage.models import Order

    with runtime.sessions() as session:
        order_id = session.scalar(
            sa.select(Order.id).where(Order.pii_ciphertext.is_not(None)).order_by(Order.id)
        )
    if order_id is None:
        raise RuntimeError("no sealed order was stored")
    return order_id

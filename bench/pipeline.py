"""Benchmark: the order pipeline's throughput, ingest and forwarding, on this machine.

* ingest      `Ingestor.store_pages` over pages of 100 orders, as a pull stores them (minimise,
              seal the PII, blind index, then upsert the orders and their outbox rows in one
              transaction per page, the next page sealed while one is written), the same pages
              one after the other with `Ingestor.store_many`, and `Ingestor.store` one order
              at a time; one process, into SQLite and into PostgreSQL (data database and key
              store on the same dialect).
* forwarding  orders already stored; the clock runs from `Jobs.enqueue_deliveries` until every
              outbox row is marked delivered. `ordervault worker` subprocesses (one or two, four
              threads each) take the messages from RabbitMQ or Redis and POST to a local HTTPS
              `WebhookReceiver` running in this process: one order per POST, or batches of 100
              (`batch_size` on the webhook destination).

Each figure is the median of the runs. Orders are canonical `Order`s with distinct ids and
synthetic buyers, built before the clock starts. Also profiles the PostgreSQL ingest path
(cProfile) and records peak RSS per process. Temporary databases are dropped, the RabbitMQ vhost
deleted, the Redis database flushed, the workers stopped.
Writes bench/results/pipeline.json and prints a table. Run: `make bench-pipeline`.
"""

from __future__ import annotations

import cProfile
import json
import os
import platform
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import storage  # noqa: E402
from connectors.order import Buyer, Order  # noqa: E402
from crypto import init_local_root_key  # noqa: E402
from pipeline.config import Config, load_config  # noqa: E402
from pipeline.ingest import Ingestor  # noqa: E402
from pipeline.jobs.actors import FORWARD_QUEUE, MAINTENANCE_QUEUE, Jobs  # noqa: E402
from pipeline.jobs.broker import make_broker  # noqa: E402
from pipeline.receiver import WebhookReceiver  # noqa: E402
from pipeline.runtime import Runtime  # noqa: E402
from storage.models import Delivery  # noqa: E402
from tests.configs import ACME, ENVIRON  # noqa: E402
from tests.factories import make_order  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pipeline.json"
POSTGRES_URL = os.environ.get(
    "ORDERVAULT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("ORDERVAULT_BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
# Database 14: not the tests' 15, so a concurrent test run's flush cannot take our messages.
REDIS_URL = os.environ.get("ORDERVAULT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# A vhost of our own, for the same reason, when rabbitmqctl can make one; "/" otherwise.
RABBITMQ_VHOST = "ordervault-bench"

RUNS = 3
INGEST_ORDERS = 3000
# A pull stores each page of the marketplace's answer in one call; 100 is Amazon's page size.
PAGE_ORDERS = 100
# One order per call too (`Ingestor.store`), as a replay of a single order would.
SINGLE_INGEST_ORDERS = 300
PROFILE_ORDERS = 1000
# Enough that a run lasts a second or more at the target rates: the first message's way to a
# worker and the last transaction's commit are then a small part of it, as in a backfill's
# steady state.
FORWARD_ORDERS = {"single": 1000, "batch": 5000}
# The default of the batching file destinations; gives 8 messages a run, so both workers'
# threads have work (the webhook allows up to 500).
BATCH_SIZE = 100
WORKER_THREADS = 4
DEADLINE_S = 120.0
TARGETS = {
    "ingest_postgresql_orders_per_s": 5_000,
    "forward_single_orders_per_s": 1_000,
    "forward_batch_orders_per_s": 5_000,
}

SETTINGS = """
clients_dir = "{clients_dir}"
[database]
url = "{data_url}"
[keystore]
url = "{keystore_url}"
[kms]
provider = "local"
key_file = "var/root.key"
[broker]
url = "{broker_url}"
[logging]
file = "var/ordervault.log"
"""


# --- deployment ---------------------------------------------------------------------------------


@contextmanager
def postgres_databases(count: int) -> Iterator[list[str]]:
    """`count` fresh PostgreSQL databases, dropped (with their connections) on the way out."""
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    names = [f"ov_bench_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield [
            make_url(POSTGRES_URL).set(database=n).render_as_string(hide_password=False)
            for n in names
        ]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def write_deployment(
    root: Path,
    name: str,
    data_url: str,
    keystore_url: str,
    broker_url: str,
    destination: str | None = None,
) -> Path:
    """Settings file `<name>.toml` and its clients folder under `root` (root key shared)."""
    clients = root / f"clients-{name}"
    clients.mkdir(parents=True, exist_ok=True)
    (root / "secrets").mkdir(exist_ok=True)
    (root / "secrets" / "lwa_client_secret").write_text("synthetic-lwa-secret\n")
    acme = ACME
    if destination is not None:  # else the example URL, never contacted by ingest alone
        acme = ACME.replace('url = "https://erp.acme.example/orders"', destination)
    (clients / "acme.toml").write_text(textwrap.dedent(acme))
    path = root / f"{name}.toml"
    path.write_text(
        textwrap.dedent(
            SETTINGS.format(
                clients_dir=clients.name,
                data_url=data_url,
                keystore_url=keystore_url,
                broker_url=broker_url,
            )
        )
    )
    return path


def open_deployment(settings_file: Path) -> tuple[Config, Runtime]:
    config = load_config(settings_file, environ=ENVIRON)
    key_file = config.settings.kms.key_file
    if not Path(key_file).exists():
        init_local_root_key(key_file)
    return config, Runtime.open(config)


def migrate(data_url: str, keystore_url: str) -> None:
    storage.upgrade(data_url, keystore=False)
    storage.upgrade(keystore_url, keystore=True)


def synthetic_orders(prefix: str, count: int) -> list[Order]:
    """Distinct orders with synthetic buyers, bought yesterday (not expired on arrival)."""
    purchased = datetime.now(UTC) - timedelta(days=1)
    return [
        make_order(
            marketplace_order_id=f"{prefix}-{n:07d}",
            purchased_at=purchased,
            updated_at=purchased,
            latest_delivery_by=purchased + timedelta(days=5),
            buyer=Buyer(name=f"Synthetic Buyer {n}", email=f"buyer{n}@{prefix}.example.invalid"),
        )
        for n in range(count)
    ]


def peak_rss_mib_self() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM of a live process (what its getrusage maxrss will report), in MiB."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


# --- ingest -------------------------------------------------------------------------------------


def ingest_runs(settings_file: Path) -> dict[str, Any]:
    config, runtime = open_deployment(settings_file)
    try:
        ingest, client = Ingestor(runtime), config.client("acme")
        # Bucket key created, connections pooled, statements compiled and cached.
        ingest.store_many(client, synthetic_orders(f"warm-{uuid.uuid4().hex[:6]}", PAGE_ORDERS))
        rates, sequential_rates, single_rates = [], [], []
        for run in range(RUNS):
            # What a pull does: the next page sealed while one is written.
            orders = synthetic_orders(f"ing{run}-{uuid.uuid4().hex[:6]}", INGEST_ORDERS)
            pages = [orders[n : n + PAGE_ORDERS] for n in range(0, len(orders), PAGE_ORDERS)]
            start = time.perf_counter()
            for _ in ingest.store_pages(client, pages):
                pass
            rates.append(INGEST_ORDERS / (time.perf_counter() - start))
            # The same pages one after the other, for comparison.
            orders = synthetic_orders(f"seq{run}-{uuid.uuid4().hex[:6]}", INGEST_ORDERS)
            start = time.perf_counter()
            for first in range(0, len(orders), PAGE_ORDERS):
                ingest.store_many(client, orders[first : first + PAGE_ORDERS])
            sequential_rates.append(INGEST_ORDERS / (time.perf_counter() - start))
            orders = synthetic_orders(f"one{run}-{uuid.uuid4().hex[:6]}", SINGLE_INGEST_ORDERS)
            start = time.perf_counter()
            for order in orders:
                ingest.store(client, order)
            single_rates.append(SINGLE_INGEST_ORDERS / (time.perf_counter() - start))
        return {
            "orders_per_run": INGEST_ORDERS,
            "page_orders": PAGE_ORDERS,
            "runs_orders_per_s": rates,
            "sequential_runs_orders_per_s": sequential_rates,
            "single_orders_per_run": SINGLE_INGEST_ORDERS,
            "single_runs_orders_per_s": single_rates,
        }
    finally:
        runtime.close()


def profile_ingest(settings_file: Path) -> dict[str, Any]:
    """cProfile the PostgreSQL ingest path; the top functions by own time and by cumulative."""
    config, runtime = open_deployment(settings_file)
    try:
        ingest, client = Ingestor(runtime), config.client("acme")
        orders = synthetic_orders(f"prof-{uuid.uuid4().hex[:6]}", PROFILE_ORDERS)
        profiler = cProfile.Profile()
        profiler.enable()
        for first in range(0, len(orders), PAGE_ORDERS):
            ingest.store_many(client, orders[first : first + PAGE_ORDERS])
        profiler.disable()
    finally:
        runtime.close()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = file.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        rows.append(
            {
                "ours": file.startswith(str(ROOT)) and "site-packages" not in file,
                "function": f"{where}:{line}({name})",
                "calls_per_order": round(calls / PROFILE_ORDERS, 2),
                "own_share": round(own / total, 4),
                "cumulative_share": round(cumulative / total, 4),
            }
        )
    by_own = sorted(rows, key=lambda r: -r["own_share"])[:20]
    by_cumulative = sorted(rows, key=lambda r: -r["cumulative_share"])[:40]
    # Our own functions by cumulative time: where in the ingest path the time goes.
    ours = sorted((r for r in rows if r["ours"]), key=lambda r: -r["cumulative_share"])[:30]
    for row in rows:
        del row["ours"]
    return {
        "profiled_orders": PROFILE_ORDERS,
        "profile_total_s": round(total, 3),
        "top_own_time": by_own,
        "top_cumulative": by_cumulative,
        "ordervault_cumulative": ours,
    }


# --- forwarding ---------------------------------------------------------------------------------


def rabbitmq_vhost() -> str:
    """The amqp URL of a private vhost, made with rabbitmqctl; the default vhost otherwise."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None or "://" not in RABBITMQ_URL:
        return RABBITMQ_URL + "/"
    for args in (
        ["add_vhost", RABBITMQ_VHOST],
        ["set_permissions", "-p", RABBITMQ_VHOST, "guest", ".*", ".*", ".*"],
    ):
        done = subprocess.run([ctl, *args], capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            return RABBITMQ_URL + "/"
    return f"{RABBITMQ_URL.rstrip('/')}/{RABBITMQ_VHOST}"


def drop_rabbitmq_vhost(url: str) -> None:
    ctl = shutil.which("rabbitmqctl")
    if ctl is not None and url.endswith("/" + RABBITMQ_VHOST):
        subprocess.run(
            [ctl, "delete_vhost", RABBITMQ_VHOST], capture_output=True, timeout=60, check=False
        )


def flush_queues(url: str) -> None:
    broker = make_broker(url)
    try:
        for queue in (FORWARD_QUEUE, MAINTENANCE_QUEUE):
            broker.declare_queue(queue)
        broker.flush_all()
    finally:
        broker.close()


@dataclass
class Workers:
    processes: list[subprocess.Popen[bytes]]
    log_file: Path

    @classmethod
    def start(cls, settings_file: Path, count: int) -> Workers:
        env = {**os.environ, **ENVIRON}
        log_file = settings_file.parent / "var" / "ordervault.log"
        before = _started_lines(log_file)
        stderr = (settings_file.parent / "worker.stderr").open("ab")
        command = [sys.executable, "-m", "pipeline.cli", "--config", str(settings_file)]
        command += ["worker", "--processes", "1", "--threads", str(WORKER_THREADS)]
        processes = [
            subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            for _ in range(count)
        ]
        workers = cls(processes, log_file)
        deadline = time.monotonic() + 60
        while _started_lines(log_file) < before + count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                workers.stop()
                raise RuntimeError("workers did not start; see worker.stderr")
            time.sleep(0.1)
        return workers

    def peak_rss_mib(self) -> list[float | None]:
        return [peak_rss_mib(p.pid) for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _started_lines(log_file: Path) -> int:
    if not log_file.exists():
        return 0
    return log_file.read_text(errors="replace").count(" started with ")


def delivered_between(runtime: Runtime, low: int, high: int) -> tuple[int, int]:
    """(delivered, dead) among outbox rows low..high."""
    with runtime.sessions() as session:
        rows = session.execute(
            sa.select(Delivery.status, sa.func.count())
            .where(Delivery.id.between(low, high))
            .group_by(Delivery.status)
        )
        counts = dict(rows.all())
    return counts.get("delivered", 0), counts.get("dead", 0)


def forward_run(
    config: Config, runtime: Runtime, jobs: Jobs, receiver: WebhookReceiver, orders: int
) -> dict[str, float]:
    ingest, client = Ingestor(runtime), config.client("acme")
    ids: list[int] = []
    pending = synthetic_orders(f"fwd-{uuid.uuid4().hex[:8]}", orders)
    for first in range(0, len(pending), PAGE_ORDERS):
        for result in ingest.store_many(client, pending[first : first + PAGE_ORDERS]):
            ids += result.delivery_ids
    assert len(ids) == orders, len(ids)
    accepted_before = receiver.stats.accepted
    low, high = min(ids), max(ids)
    start = time.perf_counter()
    jobs.enqueue_deliveries(ids)
    enqueued_s = time.perf_counter() - start
    deadline = start + DEADLINE_S
    while receiver.stats.accepted - accepted_before < orders:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"receiver got {receiver.stats.accepted - accepted_before}")
        time.sleep(0.005)
    received_s = time.perf_counter() - start
    while True:
        delivered, dead = delivered_between(runtime, low, high)
        if delivered == orders:
            break
        if dead or time.perf_counter() > deadline:
            raise RuntimeError(f"{delivered} delivered, {dead} dead of {orders}")
        time.sleep(0.005)
    delivered_s = time.perf_counter() - start
    return {
        "orders_per_s": orders / delivered_s,
        "received_orders_per_s": orders / received_s,
        "enqueue_s": enqueued_s,
        "delivered_s": delivered_s,
    }


def forwarding(
    root: Path, data_url: str, keystore_url: str, receiver: WebhookReceiver
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    rabbitmq = rabbitmq_vhost()
    brokers = {"rabbitmq": rabbitmq, "redis": REDIS_URL}
    endpoint = f'url = "{receiver.url}"\ninsecure_loopback = true\nca_file = "{receiver.ca_file}"'
    try:
        for broker_name, broker_url in brokers.items():
            for mode, batch_size in (("single", 1), ("batch", BATCH_SIZE)):
                destination = endpoint + (f"\nbatch_size = {batch_size}" if batch_size > 1 else "")
                settings_file = write_deployment(
                    root, f"{broker_name}-{mode}", data_url, keystore_url, broker_url, destination
                )
                config, runtime = open_deployment(settings_file)
                jobs = Jobs(make_broker(config.settings.broker.connect_url), runtime)
                try:
                    for processes in (1, 2):
                        flush_queues(broker_url)
                        workers = Workers.start(settings_file, processes)
                        try:
                            forward_run(config, runtime, jobs, receiver, 50)  # warm: TLS, pools
                            runs = [
                                forward_run(config, runtime, jobs, receiver, FORWARD_ORDERS[mode])
                                for _ in range(RUNS)
                            ]
                            rss = workers.peak_rss_mib()
                        finally:
                            workers.stop()
                        key = f"{broker_name}/{mode}/{processes}w"
                        results[key] = summarise(runs, FORWARD_ORDERS[mode], rss)
                        print(f"  {key}: {results[key]['orders_per_s']:,} orders/s", flush=True)
                finally:
                    jobs.broker.close()
                    jobs.close()
                    runtime.close()
                    flush_queues(broker_url)
    finally:
        drop_rabbitmq_vhost(rabbitmq)
    return results


def summarise(runs: list[dict[str, float]], orders: int, rss: list[float | None]) -> dict[str, Any]:
    return {
        "orders_per_run": orders,
        "orders_per_s": round(statistics.median(r["orders_per_s"] for r in runs)),
        "received_orders_per_s": round(statistics.median(r["received_orders_per_s"] for r in runs)),
        "runs_orders_per_s": [round(r["orders_per_s"]) for r in runs],
        "enqueue_s": [round(r["enqueue_s"], 3) for r in runs],
        "worker_peak_rss_mib": [None if m is None else round(m, 1) for m in rss],
    }


# --- main ---------------------------------------------------------------------------------------


def timed(label: str, step: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    print(f"{label} ...", flush=True)
    value = step()
    print(f"{label}: {time.perf_counter() - start:.1f} s", flush=True)
    return value


def main() -> int:
    started = time.perf_counter()
    # A SIGTERM unwinds like Ctrl-C, so databases are dropped and workers stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with (
        tempfile.TemporaryDirectory(prefix="ov-bench-pipeline-") as tmp,
        postgres_databases(2) as (
            data_url,
            keystore_url,
        ),
    ):
        root = Path(tmp)
        migrate(data_url, keystore_url)
        sqlite_data, sqlite_keys = f"sqlite:///{root / 'data.db'}", f"sqlite:///{root / 'keys.db'}"
        migrate(sqlite_data, sqlite_keys)
        ingest: dict[str, Any] = {}
        for dialect, urls in (
            ("sqlite", (sqlite_data, sqlite_keys)),
            ("postgresql", (data_url, keystore_url)),
        ):
            settings_file = write_deployment(root, f"ingest-{dialect}", *urls, "inline")
            ingest[dialect] = timed(f"ingest {dialect}", lambda f=settings_file: ingest_runs(f))
            ingest[dialect]["orders_per_s"] = round(
                statistics.median(ingest[dialect]["runs_orders_per_s"])
            )
            for figure in ("sequential", "single"):
                ingest[dialect][f"{figure}_orders_per_s"] = round(
                    statistics.median(ingest[dialect][f"{figure}_runs_orders_per_s"])
                )
            for runs in (
                "runs_orders_per_s",
                "sequential_runs_orders_per_s",
                "single_runs_orders_per_s",
            ):
                ingest[dialect][runs] = [round(r) for r in ingest[dialect][runs]]
        profile = timed(
            "profile",
            lambda: profile_ingest(root / "ingest-postgresql.toml"),
        )
        ingest_rss = peak_rss_mib_self()
        # It counts and drops repeats by idempotency key, as a real endpoint would, without
        # holding every document of the run in this process's memory.
        with WebhookReceiver(
            root / "receiver", secret=ENVIRON["ACME_WEBHOOK_SECRET"], keep_documents=False
        ) as receiver:
            forward = timed(
                "forwarding", lambda: forwarding(root, data_url, keystore_url, receiver)
            )
            receiver_stats = receiver.stats
    # VmHWM read from each worker before it stopped: RUSAGE_CHILDREN would also count
    # rabbitmqctl (an Erlang VM).
    worker_rss = [m for v in forward.values() for m in v["worker_peak_rss_mib"] if m is not None]

    best_single = max(v["orders_per_s"] for k, v in forward.items() if "/single/" in k)
    best_batch = max(v["orders_per_s"] for k, v in forward.items() if "/batch/" in k)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "unit": "orders per second; median of runs",
        "runs": RUNS,
        "ingest": ingest,
        "forwarding": {
            "worker_threads": WORKER_THREADS,
            "batch_size": BATCH_SIZE,
            "results": forward,
            "receiver": {
                "requests": receiver_stats.requests,
                "accepted": receiver_stats.accepted,
                "duplicates": receiver_stats.duplicates,
                "connections": receiver_stats.connections,
            },
        },
        "peak_rss_mib": {
            "bench_process_after_ingest": round(ingest_rss, 1),
            "bench_process_with_receiver": round(peak_rss_mib_self(), 1),
            "largest_worker": max(worker_rss, default=None),
        },
        "profile_ingest_postgresql": profile,
        "targets": {
            "ingest_postgresql_orders_per_s": {
                "target": TARGETS["ingest_postgresql_orders_per_s"],
                "value": ingest["postgresql"]["orders_per_s"],
                "met": ingest["postgresql"]["orders_per_s"]
                >= TARGETS["ingest_postgresql_orders_per_s"],
            },
            "forward_single_orders_per_s": {
                "target": TARGETS["forward_single_orders_per_s"],
                "value": best_single,
                "met": best_single >= TARGETS["forward_single_orders_per_s"],
            },
            "forward_batch_orders_per_s": {
                "target": TARGETS["forward_batch_orders_per_s"],
                "value": best_batch,
                "met": best_batch >= TARGETS["forward_batch_orders_per_s"],
            },
        },
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    return 0


def print_table(result: dict[str, Any]) -> None:
    print(f"median of {result['runs']} runs, orders/s")
    for dialect, figures in result["ingest"].items():
        runs = ", ".join(f"{v:,}" for v in figures["runs_orders_per_s"])
        print(f"ingest {dialect + ', pages':<24}{figures['orders_per_s']:>8,}   {runs}")
        runs = ", ".join(f"{v:,}" for v in figures["single_runs_orders_per_s"])
        print(f"ingest {dialect + ', one by one':<24}{figures['single_orders_per_s']:>8,}   {runs}")
    for key, figures in result["forwarding"]["results"].items():
        runs = ", ".join(f"{v:,}" for v in figures["runs_orders_per_s"])
        print(f"forward {key:<23}{figures['orders_per_s']:>8,}   {runs}")
    for name, target in result["targets"].items():
        verdict = "met" if target["met"] else "MISSED"
        print(f"target {name} >= {target['target']:,}: {target['value']:,} {verdict}")
    print(f"peak RSS MiB: {result['peak_rss_mib']}")
    print(f"elapsed {result['elapsed_s']} s; wrote {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())

"""Backfill 2,000 Amazon orders under Amazon's usage plans: ordervault vs the documented pattern.

    .venv/bin/python bench/amazon_ratelimit.py [--orders 2000] [--time-scale 100]

The fake SP-API runs in its own process (fresh for every run) and enforces each operation's usage
plan at `--time-scale` times real speed; every client sleeps on a clock of the same scale, so a
2 s wait of Amazon's is 20 ms here. Each client runs in its own process too, so its peak memory
is its own. Scenarios:

- `v0_backfill`: Orders API v0. getOrders pages plus one getOrderItems per order; the binding
  plan is getOrderItems (0.5/s, burst 30): 2,000 orders need at least (2000 - 30) / 0.5 s.
- `v2026_backfill`: Orders API v2026-01-01, 100 orders per searchOrders page: 20 pages fit in
  the burst of 20, so the plan does not bind (no lower bound to divide by).
- `v2026_burst_spent`: the same after earlier pulls spent the burst (both Amazon's bucket and, for
  ordervault, its shared limiter know it): 20 pages at 0.0056/s.

The peer is the pattern python-amazon-sp-api documents: `@throttle_retry()` over
`@load_all_pages()` for the order pages, `@throttle_retry()` per getOrderItems call, PII through
`RestrictedResources=` (one restricted data token per call). Its sleeps are scaled like ours.

Writes bench/results/amazon_ratelimit.json: per run the elapsed time divided by the usage-plan
lower bound (target <= 1.05), the number of 429 responses (target 0) and peak memory.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "amazon_ratelimit.json"
BACKFILL_FROM = datetime(2025, 12, 1, tzinfo=UTC)
INCLUDED_DATA = ["BUYER", "RECIPIENT", "FULFILLMENT", "PACKAGES"]
PLANS = {  # Amazon's documented defaults (the fake parses the same from the models)
    "ordersV0.getOrders": (0.0167, 20),
    "ordersV0.getOrderItems": (0.5, 30),
    "orders.searchOrders": (0.0056, 20),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    api: str  # "v0" or "2026-01-01"
    burst_spent: bool = False


SCENARIOS = (
    Scenario("v0_backfill", "v0"),
    Scenario("v2026_backfill", "2026-01-01"),
    Scenario("v2026_burst_spent", "2026-01-01", burst_spent=True),
)
# Orders received so far in this client process: a run that fails still reports how far it got.
RECEIVED = {"orders": 0}
IMPLEMENTATIONS = ("ordervault", "python_amazon_sp_api", "python_amazon_sp_api_patched")


# -- lower bound ---------------------------------------------------------------------------


def lower_bound_amazon_s(scenario: Scenario, orders: int) -> tuple[float, str]:
    """Least Amazon time the task needs under the plans, and the operation that sets it.

    Requests of different operations can wait concurrently, so the bound is the largest
    single-operation bound: (requests - burst) / rate from a full bucket, requests / rate
    from a spent one.
    """
    pages = math.ceil(orders / 100)
    needed = (
        {"ordersV0.getOrders": pages, "ordersV0.getOrderItems": orders}
        if scenario.api == "v0"
        else {"orders.searchOrders": pages}
    )
    bounds = {}
    for operation, count in needed.items():
        rate_per_s, burst = PLANS[operation]
        free = 0 if scenario.burst_spent else burst
        bounds[operation] = max(0.0, (count - free) / rate_per_s)
    operation = max(bounds, key=lambda name: bounds[name])
    return bounds[operation], operation


# -- the fake, in its own process --------------------------------------------------------


class FakeProcess:
    def __init__(self, orders: int, time_scale: float) -> None:
        # Tokens live an hour of *real* time: the library caches its LWA token for 3,200 real
        # seconds whatever the scale, and must not be failed by an artefact of scaling.
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connectors.fakes.spapi",
                "--orders",
                str(orders),
                "--seed",
                "7",
                "--time-scale",
                str(time_scale),
                "--no-validate",
                "--token-lifetime-s",
                str(3600 * time_scale),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.info: dict[str, Any] = json.loads(self.process.stdout.readline())
        self.http = httpx.Client(base_url=self.info["url"], timeout=10)

    def drain(self, operation: str) -> None:
        self.http.post("/_fake/drain", json={"seller": self.info["seller"], "operation": operation})

    def stats(self) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = self.http.get("/_fake/stats").json()["requests"]
        return stats

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(timeout=10)


# -- clients, each in its own process ----------------------------------------------------


def run_ordervault(info: dict[str, Any], scenario: Scenario, scale: float) -> int:
    from connectors.amazon import AmazonAccountSettings, AmazonConnector
    from connectors.fakes import ScaledTime
    from connectors.ratelimit import AMAZON_USAGE_PLANS, BlockingLimiter, MemoryBuckets

    clock = ScaledTime(scale)
    limiter = BlockingLimiter(MemoryBuckets(), clock=clock.now, sleep=clock.sleep)
    settings = AmazonAccountSettings(
        client_id="bench",
        account="bench",
        region="eu",
        marketplace_ids=tuple(info["marketplace_ids"]),
        refresh_token=info["refresh_token"],
        lwa_client_id=info["lwa_client_id"],
        lwa_client_secret=info["lwa_client_secret"],
        orders_api=scenario.api,  # type: ignore[arg-type]
        endpoint=info["url"],
        lwa_endpoint=info["lwa_url"],
    )
    if scenario.burst_spent:  # the shared limiter saw the earlier pulls spend the burst
        plan = AMAZON_USAGE_PLANS["orders.searchOrders"]
        for _ in range(int(limiter.capacity(plan))):
            limiter.acquire(f"{settings.limiter_prefix}/orders.searchOrders", plan)
    with AmazonConnector(settings, limiter=limiter, clock=clock.now, sleep=clock.sleep) as amazon:
        for page in amazon.backfill(created_after=BACKFILL_FROM):
            RECEIVED["orders"] += len(page.orders) + len(page.quarantined)
    return RECEIVED["orders"]


def run_library(info: dict[str, Any], scenario: Scenario, scale: float, *, patched: bool) -> int:
    """The documented pattern; `patched` adds the two smallest fixes that let it finish.

    As documented, `@throttle_retry()` wraps `@load_all_pages()`: it wraps the creation of a
    generator, so a 429 while paging is never retried. And `RestrictedResources=` leaves the
    restricted data token on the client when the restricted call raises (no try/finally), so
    the next token request goes out with that RDT instead of the LWA token and is refused
    (403, not retried). Patched: retry each page inside the pager, drop the RDT before a call.
    """
    from sp_api.api import Orders
    from sp_api.auth import AccessTokenClient
    from sp_api.base import Marketplaces
    from sp_api.util import load_all_pages, throttle_retry

    from connectors.fakes import ScaledTime

    # The library's own waits, in the fake's Amazon time. (By module, from sys.modules:
    # `sp_api.util.retry` as an attribute is the function the package re-exports.)
    scaled = ScaledTime(scale)
    for name in ("sp_api.util.retry", "sp_api.util.load_all_pages"):
        sys.modules[name].time = SimpleNamespace(sleep=scaled.sleep)  # type: ignore[attr-defined]

    class FakeLwa(AccessTokenClient):  # type: ignore[misc]
        scheme = "http://"
        host = info["lwa_url"].removeprefix("http://").removesuffix("/auth/o2/token")

    credentials = {
        "refresh_token": info["refresh_token"],
        "lwa_app_id": info["lwa_client_id"],
        "lwa_client_secret": info["lwa_client_secret"],
    }
    client = Orders(
        Marketplaces.DE,
        credentials=credentials,
        auth_token_client_class=FakeLwa,
        version=scenario.api,
    )
    client.endpoint = info["url"]

    def fresh(call: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            client.restricted_data_token = None
            return call(*args, **kwargs)

        return wrapper if patched else call

    def pager(fetch: Any, **options: Any) -> Any:
        if patched:
            return load_all_pages(**options)(throttle_retry()(fetch))
        return throttle_retry()(load_all_pages(**options)(fetch))

    if scenario.api == "v0":
        load_all_orders = pager(fresh(client.get_orders))
        load_items = throttle_retry()(fresh(client.get_order_items))
        for page in load_all_orders(
            CreatedAfter=BACKFILL_FROM.isoformat(),
            MarketplaceIds=info["marketplace_ids"],
            RestrictedResources=["buyerInfo", "shippingAddress"],
        ):
            for order in page.payload.get("Orders"):
                load_items(order["AmazonOrderId"], RestrictedResources=["buyerInfo"])
                RECEIVED["orders"] += 1
    else:
        search = pager(client.search_orders, next_token_param="paginationToken")
        for page in search(
            createdAfter=BACKFILL_FROM.strftime("%Y-%m-%dT%H:%M:%SZ"),
            marketplaceIds=info["marketplace_ids"],
            includedData=INCLUDED_DATA,
            maxResultsPerPage=100,
        ):
            RECEIVED["orders"] += len(page.payload.get("orders"))
    client.close()
    return RECEIVED["orders"]


def client_main(args: argparse.Namespace) -> None:
    info = json.loads(args.info)
    scenario = next(s for s in SCENARIOS if s.name == args.scenario)
    runners: dict[str, Callable[..., int]] = {
        "ordervault": run_ordervault,
        "python_amazon_sp_api": partial(run_library, patched=False),
        "python_amazon_sp_api_patched": partial(run_library, patched=True),
    }
    runner = runners[args.impl]
    # Import everything before the clock starts: start-up is not what is measured.
    for module in ("sp_api.api", "sp_api.util", "connectors.amazon", "connectors.ratelimit"):
        importlib.import_module(module)

    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    error = None
    try:
        runner(info, scenario, args.time_scale)
    except Exception as exc:  # noqa: BLE001 (the peer may fail: that is a result)
        error = type(exc).__name__
    count = RECEIVED["orders"]
    elapsed_s = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "orders": count,
                "elapsed_s": elapsed_s,
                "error": error,
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "rss_growth_mib": round((peak_kib - before_kib) / 1024, 1),
            }
        )
    )


# -- driver --------------------------------------------------------------------------------


def run(scenario: Scenario, impl: str, orders: int, scale: float) -> dict[str, Any]:
    fake = FakeProcess(orders, scale)
    try:
        if scenario.burst_spent:
            fake.drain("orders.searchOrders")
        completed = subprocess.run(
            [
                sys.executable,
                __file__,
                "_client",
                "--impl",
                impl,
                "--scenario",
                scenario.name,
                "--time-scale",
                str(scale),
                "--info",
                json.dumps(fake.info),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        stats = fake.stats()
    finally:
        fake.stop()
    result["completed"] = result["error"] is None and result["orders"] == orders
    result["responses_429"] = sum(by_status.get("429", 0) for by_status in stats.values())
    result["requests"] = {op: sum(by_status.values()) for op, by_status in sorted(stats.items())}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--scenario", action="append", choices=[s.name for s in SCENARIOS])
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    report: dict[str, Any] = {
        "benchmark": "amazon_ratelimit",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "orders": args.orders,
        "time_scale": args.time_scale,
        "targets": {"ratio_to_lower_bound_max": 1.05, "responses_429": 0},
        "python": platform.python_version(),
        "machine": platform.machine(),
        "scenarios": [],
    }
    for scenario in chosen:
        bound_amazon_s, binding = lower_bound_amazon_s(scenario, args.orders)
        bound_s = bound_amazon_s / args.time_scale
        entry: dict[str, Any] = {
            "name": scenario.name,
            "api": scenario.api,
            "burst_spent": scenario.burst_spent,
            "lower_bound_amazon_s": round(bound_amazon_s, 1),
            "lower_bound_s": round(bound_s, 3),
            "binding_operation": binding if bound_amazon_s > 0 else None,
            "runs": {},
        }
        for impl in IMPLEMENTATIONS:
            result = run(scenario, impl, args.orders, args.time_scale)
            result["elapsed_s"] = round(result["elapsed_s"], 3)
            result["ratio_to_lower_bound"] = (
                round(result["elapsed_s"] / bound_s, 4)
                if bound_s > 0 and result["completed"]
                else None
            )
            entry["runs"][impl] = result
            print(
                f"{scenario.name:20} {impl:22} orders={result['orders']:5} "
                f"elapsed={result['elapsed_s']:8.2f}s bound={bound_s:7.2f}s "
                f"ratio={result['ratio_to_lower_bound']} 429s={result['responses_429']} "
                f"peak={result['peak_rss_mib']}MiB error={result['error']}",
                flush=True,
            )
        report["scenarios"].append(entry)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        client_parser = argparse.ArgumentParser()
        client_parser.add_argument("_client")
        client_parser.add_argument("--impl", choices=IMPLEMENTATIONS, required=True)
        client_parser.add_argument("--scenario", required=True)
        client_parser.add_argument("--time-scale", type=float, required=True)
        client_parser.add_argument("--info", required=True)
        client_main(client_parser.parse_args())
    else:
        main()

"""bench/render.py: RESULTS.md from the benchmarks' JSON, figures beside the peers', notes kept."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_render", BENCH / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


render = load_render()
X, DASH = render.TIMES, render.DASH  # the multiplication sign and the en dash

MACHINE = {"platform": "Linux-test-x86_64", "python": "3.11.9", "cpu_count": 4, "processor": "x"}

CRYPTO: dict[str, Any] = {
    "date": "2026-12-01T10:30:00+00:00",
    "machine": MACHINE,
    "unit": "records per second, each record sealed then opened (seal+open pairs/s)",
    "pii_bytes": 600,
    "rounds": 3,
    "ops_per_s": {"ordervault": 120000, "bare": 200000, "tink": 40000, "esdk-default": 300},
    "rounds_ops_per_s": {
        "ordervault": [110000, 120000, 125000],
        "bare": [190000, 200000, 210000],
        "tink": [39000, 40000, 41000],
        "esdk-default": [290, 300, 310],
    },
    "ordervault_ratio": {"bare": 0.6, "tink": 3.0, "esdk-default": 400.0},
    "ordervault_ratio_paired": {"bare": 0.61, "tink": 2.9, "esdk-default": 395.5},
    "cache": {
        "orders": 1000,
        "expiry_days": 10,
        "lookups": 2000,
        "hits": 1990,
        "misses": 10,
        "hit_rate": 0.995,
    },
    "targets": {
        "ordervault_ops_per_s": {"target": 100000, "met": True},
        "vs_tink": {"target": 2.0, "met": True},
        "vs_esdk_default": {"target": 500.0, "met": False},
        "cache_hit_rate": {"target": 0.999, "met": False},
    },
}


def amazon_run(orders: int, elapsed_s: float, **fields: Any) -> dict[str, Any]:
    run = {
        "orders": orders,
        "elapsed_s": elapsed_s,
        "error": None,
        "peak_rss_mib": 40.0,
        "completed": True,
        "responses_429": 0,
        "requests": {"lwa.token": 1, "ordersV0.getOrderItems": 100, "ordersV0.getOrders": 1},
        "ratio_to_lower_bound": None,
    }
    run.update(fields)
    return run


AMAZON: dict[str, Any] = {
    "benchmark": "amazon_ratelimit",
    "generated_at": "2026-12-01T09:00:00+01:00",
    "orders": 100,
    "time_scale": 50.0,
    "targets": {"ratio_to_lower_bound_max": 1.05, "responses_429": 0},
    "python": "3.11.9",
    "machine": "aarch64",
    "scenarios": [
        {
            "name": "v0_backfill",
            "api": "v0",
            "burst_spent": False,
            "lower_bound_amazon_s": 140.0,
            "lower_bound_s": 2.8,
            "binding_operation": "ordersV0.getOrderItems",
            "runs": {
                "ordervault": amazon_run(100, 2.9, ratio_to_lower_bound=1.0357),
                "python_amazon_sp_api": amazon_run(
                    7,
                    0.2,
                    completed=False,
                    error="SellingApiForbiddenException",
                    responses_429=2,
                    requests={"lwa.token": 1, "tokens.createRestrictedDataToken": 9},
                ),
                "python_amazon_sp_api_patched": amazon_run(
                    100,
                    3.2,
                    ratio_to_lower_bound=1.1429,
                    responses_429=31,
                    requests={"lwa.token": 1, "tokens.createRestrictedDataToken": 131},
                ),
            },
        },
        {
            "name": "v2026_backfill",
            "api": "2026-01-01",
            "burst_spent": False,
            "lower_bound_amazon_s": 0.0,
            "lower_bound_s": 0.0,
            "binding_operation": None,
            "runs": {
                "ordervault": amazon_run(100, 2.0),
                "python_amazon_sp_api": amazon_run(100, 1.0),
            },
        },
    ],
}


def forward(orders_per_s: int, runs: list[int], rss: list[float | None]) -> dict[str, Any]:
    return {
        "orders_per_run": 30,
        "orders_per_s": orders_per_s,
        "received_orders_per_s": orders_per_s,
        "runs_orders_per_s": runs,
        "enqueue_s": [0.5, 0.25],
        "worker_peak_rss_mib": rss,
    }


PIPELINE: dict[str, Any] = {
    "date": "2026-12-01T11:00:00+00:00",
    "machine": MACHINE,
    "unit": "orders per second; median of runs",
    "runs": 2,
    "ingest": {
        "sqlite": {"orders_per_run": 50, "runs_orders_per_s": [150, 170], "orders_per_s": 160},
        "postgresql": {"orders_per_run": 50, "runs_orders_per_s": [70, 90], "orders_per_s": 80},
    },
    "forwarding": {
        "worker_threads": 4,
        "batch_size": 10,
        "results": {
            "redis/single/1w": forward(40, [40, 40], [130.0]),
            "redis/single/2w": forward(60, [60, 60], [131.0, None]),
            "redis/batch/2w": forward(150, [150, 150], [132.0, 133.0]),
        },
        "receiver": {"requests": 90, "accepted": 120, "duplicates": 0, "connections": 6},
    },
    "peak_rss_mib": {"bench_process_after_ingest": 100.0, "largest_worker": 133.0},
    "targets": {
        "ingest_postgresql_orders_per_s": {"target": 800, "value": 80, "met": False},
        "forward_single_orders_per_s": {"target": 50, "value": 60, "met": True},
    },
    "elapsed_s": 12.5,
}


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    (tmp_path / "results").mkdir()
    (tmp_path / "notes").mkdir()
    for name, data in (("crypto", CRYPTO), ("amazon_ratelimit", AMAZON), ("pipeline", PIPELINE)):
        (tmp_path / "results" / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


def rendered(bench_dir: Path) -> str:
    out = bench_dir / "RESULTS.md"
    args = ["--results", str(bench_dir / "results"), "--notes", str(bench_dir / "notes")]
    assert render.main([*args, "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def section(page: str, title: str) -> str:
    return page.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def row(text: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is `first_cell`."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def test_the_header_names_each_run_s_date_and_machine(bench_dir: Path) -> None:
    page = rendered(bench_dir)
    assert row(page, "Amazon rate limiting") == [
        "Amazon rate limiting",
        "2026-12-01 08:00 UTC",  # converted from +01:00
        "aarch64",
        DASH,
        "3.11.9",
    ]
    assert row(page, "Crypto") == [
        "Crypto",
        "2026-12-01 10:30 UTC",
        "Linux-test-x86_64",
        "4",
        "3.11.9",
    ]
    # Sections in a fixed order, whatever the file names sort to.
    assert page.index("## Amazon rate limiting") < page.index("## Crypto")
    assert page.index("## Crypto") < page.index("## Pipeline")


def test_crypto_puts_the_peers_beside_ordervault_with_ratios_and_targets(bench_dir: Path) -> None:
    crypto = section(rendered(bench_dir), "Crypto")
    assert row(crypto, "ordervault") == [
        "ordervault",
        "120,000",
        "",
        "",
        f"110,000{DASH}125,000",
        "≥ 100,000 records/s: met",
    ]
    assert row(crypto, "Tink `KmsEnvelopeAead`") == [
        "Tink `KmsEnvelopeAead`",
        "40,000",
        "3.00",
        "2.90",
        f"39,000{DASH}41,000",
        f"ordervault ≥ 2{X}: met",
    ]
    assert row(crypto, "AWS ESDK, default suite")[2:4] == ["400", "396"]
    assert row(crypto, "AWS ESDK, default suite")[5] == f"ordervault ≥ 500{X}: **missed**"
    assert row(crypto, "bare primitives")[5] == ""
    assert row(crypto, "1,000") == [
        "1,000",
        "10",
        "2,000",
        "1,990",
        "10",
        "99.500%",
        "≥ 99.9%: **missed**",
    ]
    assert "600 bytes of JSON" in crypto
    assert "Median of 3 rounds" in crypto


def test_amazon_shows_each_scenario_against_its_bound(bench_dir: Path) -> None:
    amazon = section(rendered(bench_dir), "Amazon rate limiting")
    v0, v2026 = amazon.split("**v0 backfill**", 1)[1].split("**v2026 backfill**", 1)
    assert "lower bound 2.80 s (140 s of Amazon time, set by `ordersV0.getOrderItems`)" in v0
    assert row(v0, "") == [
        "",
        "ordervault",
        "python-amazon-sp-api, as documented",
        "python-amazon-sp-api, patched",
    ]
    assert row(v0, "orders")[2] == "7 of 100, then `SellingApiForbiddenException`"
    assert row(v0, f"{X} lower bound (target ≤ 1.05)")[1:] == [
        "1.036: met",
        DASH,
        "1.143: **missed**",
    ]
    assert row(v0, "responses 429 (target 0)")[1:] == ["0: met", "2: **missed**", "31: **missed**"]
    assert row(v0, "restricted data tokens")[1:] == ["0", "9", "131"]
    assert row(v0, f"elapsed, {X} ordervault's")[1:] == ["", DASH, "1.10"]
    assert "the usage plan does not bind" in v2026
    assert f"{X} lower bound" not in v2026
    assert row(v2026, f"elapsed, {X} ordervault's")[1:] == ["", "0.50"]
    assert f"100 orders per run from the fake SP-API at 50{X} time scale" in amazon


def test_pipeline_shows_targets_runs_and_ratios(bench_dir: Path) -> None:
    pipeline = section(rendered(bench_dir), "Pipeline")
    assert row(pipeline, "ingest, PostgreSQL") == [
        "ingest, PostgreSQL",
        "80 orders/s",
        "≥ 800",
        "**missed**",
        f"10.0{X} short",
    ]
    assert row(pipeline, "forwarding, one order per POST (best configuration)")[3:] == [
        "met",
        "",
    ]
    # A result from before page ingest has no sequential, page or one-by-one figures: dashes,
    # not a crash.
    assert row(pipeline, "PostgreSQL") == [
        "PostgreSQL",
        "80",
        "70, 90",
        DASH,
        "",
        "50",
        DASH,
        DASH,
        "",
    ]
    forwarding = [line for line in pipeline.splitlines() if line.startswith("| Redis |")]
    assert forwarding == [
        "| Redis | single | 1 | 40 | 40, 40 |  |  | 0.50, 0.25 | 130.0 |",
        f"| Redis | single | 2 | 60 | 60, 60 | 1.50 |  | 0.50, 0.25 | 131.0, {DASH} |",
        "| Redis | batch | 2 | 150 | 150, 150 |  | 2.50 | 0.50, 0.25 | 132.0, 133.0 |",
    ]
    assert "90 requests, 120 accepted, 0 duplicates, 6 connections" in pipeline
    assert "Where ingest time goes" not in pipeline  # no profile in this JSON


def test_notes_go_around_the_tables_at_their_marker(bench_dir: Path) -> None:
    (bench_dir / "notes" / "crypto.md").write_text(
        "What it measures.\n\n<!-- tables -->\n\nReading it.\n"
    )
    (bench_dir / "notes" / "pipeline.md").write_text("Only explanation.\n")
    page = rendered(bench_dir)
    crypto = section(page, "Crypto")
    assert crypto.index("What it measures.") < crypto.index("| contender |")
    assert crypto.index("| contender |") < crypto.index("Reading it.")
    assert "<!-- tables -->" not in page
    pipeline = section(page, "Pipeline")
    assert pipeline.index("| path |") < pipeline.index("Only explanation.")


def test_a_result_without_a_renderer_still_gets_its_header(bench_dir: Path) -> None:
    (bench_dir / "results" / "disk.json").write_text(
        json.dumps({"date": "2026-12-02T00:00:00+00:00", "machine": MACHINE})
    )
    page = rendered(bench_dir)
    assert row(page, "disk")[1] == "2026-12-02 00:00 UTC"
    assert "No renderer for `disk`" in section(page, "disk")
    assert page.index("## Pipeline") < page.index("## disk")


def test_a_missing_field_stops_the_render_naming_file_and_field(
    bench_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = {key: value for key, value in CRYPTO.items() if key != "ops_per_s"}
    (bench_dir / "results" / "crypto.json").write_text(json.dumps(broken))
    out = bench_dir / "RESULTS.md"
    args = ["--results", str(bench_dir / "results"), "--notes", str(bench_dir / "notes")]
    assert render.main([*args, "--out", str(out)]) == 1
    assert "crypto.json: no field ops_per_s" in capsys.readouterr().err
    assert not out.exists()


def test_the_committed_results_render(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    assert render.main(["--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    for title in ("Amazon rate limiting", "Crypto", "Pipeline"):
        assert f"## {title}" in page

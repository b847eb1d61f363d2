"""Render bench/RESULTS.md from bench/results/*.json and the narrative in bench/notes/.

    .venv/bin/python bench/render.py [--results DIR] [--notes DIR] [--out FILE]

Every figure on the page is read from the JSON the benchmarks wrote, so the page cannot
disagree with the runs. The notes (`bench/notes/<benchmark>.md`) explain what is measured and
why the figures come out as they do; they hold no figures of a run. A notes file may contain a
line `<!-- tables -->`: what comes before it is printed above the tables, the rest below;
without it, all of it goes below. Run: `make bench-render` (`make bench` runs the benchmarks
first).

A result file whose fields are not where its renderer expects them stops the render with the
file and the field, rather than printing a page that leaves them out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
TABLES_MARKER = "<!-- tables -->"
# Spelled out: ruff flags these characters in literals as look-alikes of x and -.
TIMES = "\u00d7"
DASH = "\u2013"
NO_FIGURE = DASH


class RenderError(Exception):
    """A result file cannot be rendered; the message names the file and the field."""


@dataclass(frozen=True)
class Result:
    name: str  # the file's stem: bench/results/<name>.json
    path: Path
    data: dict[str, Any]

    def get(self, *keys: str) -> Any:
        """`data[k1][k2]...`, or RenderError naming the file and the missing field."""
        value: Any = self.data
        for depth, key in enumerate(keys):
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                field = ".".join(keys[: depth + 1])
                raise RenderError(f"{self.path}: no field {field}") from None
        return value


# -- formatting ------------------------------------------------------------------------------


def number(value: float, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}"


def ratio(value: float) -> str:
    """A ratio with about three significant digits: 0.49, 1.72, 29.1, 170."""
    if abs(value) >= 100:
        return number(value)
    return number(value, 1 if abs(value) >= 10 else 2)


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A Markdown table; `align` has one letter per column, "r" for right-aligned."""
    rules = ["---:" if align[i : i + 1] == "r" else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rules) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def when(value: str) -> str:
    """An ISO timestamp as "YYYY-MM-DD HH:MM UTC"."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# -- the run: when and where -----------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    date: str
    machine: str
    cpus: str
    python: str


def run_info(result: Result) -> RunInfo:
    # crypto and pipeline write {"date", "machine": {...}}; amazon_ratelimit writes
    # {"generated_at", "machine": "<arch>", "python"}.
    data = result.data
    date = data.get("date") or data.get("generated_at")
    machine = data.get("machine")
    if not isinstance(date, str) or machine is None:
        raise RenderError(f"{result.path}: no field date (or generated_at) and machine")
    if isinstance(machine, dict):
        described = str(machine.get("platform") or machine.get("processor") or "?")
        cpus = machine.get("cpu_count")
        python = machine.get("python") or data.get("python")
    else:
        described, cpus, python = str(machine), None, data.get("python")
    return RunInfo(
        when(date), described, NO_FIGURE if cpus is None else str(cpus), str(python or NO_FIGURE)
    )


# -- Amazon rate limiting --------------------------------------------------------------------

AMAZON_IMPLEMENTATIONS = {
    "ordervault": "ordervault",
    "python_amazon_sp_api": "python-amazon-sp-api, as documented",
    "python_amazon_sp_api_patched": "python-amazon-sp-api, patched",
}
AMAZON_SCENARIOS = {
    "v0_backfill": "v0 backfill",
    "v2026_backfill": "v2026 backfill",
    "v2026_burst_spent": "v2026, burst already spent",
}
RDT_OPERATION = "tokens.createRestrictedDataToken"


def amazon_ratelimit(result: Result) -> list[str]:
    ratio_max = result.get("targets", "ratio_to_lower_bound_max")
    max_429 = result.get("targets", "responses_429")
    lines = [
        f"{number(result.get('orders'))} orders per run from the fake SP-API at "
        f"{number(result.get('time_scale'))}{TIMES} time scale. Targets: elapsed time at most "
        f"{ratio_max} {TIMES} the usage plan's lower bound, and {max_429} responses 429.",
    ]
    for scenario in result.get("scenarios"):
        name = scenario["name"]
        runs: dict[str, Any] = scenario["runs"]
        bound_s = scenario.get("lower_bound_s") or 0.0
        if bound_s > 0:
            bound = (
                f"lower bound {number(bound_s, 2)} s "
                f"({number(scenario['lower_bound_amazon_s'])} s of Amazon time, set by "
                f"`{scenario['binding_operation']}`)"
            )
        else:
            bound = "the usage plan does not bind, so there is no lower bound"
        lines += ["", f"**{AMAZON_SCENARIOS.get(name, name)}**: {bound}.", ""]
        ours = runs.get("ordervault")
        columns = list(runs)
        rows: list[list[str]] = [
            ["orders"] + [_amazon_orders(runs[c], result.get("orders")) for c in columns],
            ["elapsed"] + [f"{number(runs[c]['elapsed_s'], 2)} s" for c in columns],
        ]
        if ours and ours["completed"]:
            rows.append(
                [f"elapsed, {TIMES} ordervault's"]
                + [
                    ""
                    if c == "ordervault"
                    else ratio(runs[c]["elapsed_s"] / ours["elapsed_s"])
                    if runs[c]["completed"]
                    else NO_FIGURE
                    for c in columns
                ]
            )
        if bound_s > 0:
            rows.append(
                [f"{TIMES} lower bound (target ≤ {ratio_max})"]
                + [_bound_cell(runs[c].get("ratio_to_lower_bound"), ratio_max) for c in columns]
            )
        rows += [
            [f"responses 429 (target {max_429})"]
            + [
                f"{number(runs[c]['responses_429'])}: "
                + verdict(runs[c]["responses_429"] <= max_429)
                for c in columns
            ],
            ["requests"] + [number(sum(runs[c]["requests"].values())) for c in columns],
            ["restricted data tokens"]
            + [number(runs[c]["requests"].get(RDT_OPERATION, 0)) for c in columns],
            ["peak RSS"] + [f"{number(runs[c]['peak_rss_mib'], 1)} MiB" for c in columns],
        ]
        header = [""] + [AMAZON_IMPLEMENTATIONS.get(c, c) for c in columns]
        lines += table(header, rows, "l" + "r" * len(columns))
    return lines


def _amazon_orders(run: dict[str, Any], orders: int) -> str:
    text = f"{number(run['orders'])} of {number(orders)}"
    if run.get("error"):
        text += f", then `{run['error']}`"
    return text


def _bound_cell(value: float | None, ratio_max: float) -> str:
    if value is None:
        return NO_FIGURE
    return f"{number(value, 3)}: {verdict(value <= ratio_max)}"


# -- crypto ----------------------------------------------------------------------------------

CRYPTO_CONTENDERS = {
    "ordervault": "ordervault",
    "ordervault-python": "ordervault, pure-Python fallback",
    "bare": "bare primitives",
    "tink": "Tink `KmsEnvelopeAead`",
    "esdk-default": "AWS ESDK, default suite",
    "esdk-commit": "AWS ESDK, committing, unsigned",
}
#: target key -> (the contender whose row shows it, how the target reads)
CRYPTO_TARGETS: dict[str, tuple[str, Callable[[float], str]]] = {
    "ordervault_ops_per_s": ("ordervault", lambda t: f"≥ {number(t)} records/s"),
    "vs_tink": ("tink", lambda t: f"ordervault ≥ {t:g}{TIMES}"),
    "vs_esdk_default": ("esdk-default", lambda t: f"ordervault ≥ {t:g}{TIMES}"),
}


def crypto(result: Result) -> list[str]:
    ops: dict[str, float] = result.get("ops_per_s")
    rounds: dict[str, list[float]] = result.get("rounds_ops_per_s")
    ratios: dict[str, float] = result.get("ordervault_ratio")
    paired: dict[str, float] = result.get("ordervault_ratio_paired")
    targets: dict[str, dict[str, Any]] = result.get("targets")
    by_row = {
        row: f"{describe(targets[key]['target'])}: {verdict(targets[key]['met'])}"
        for key, (row, describe) in CRYPTO_TARGETS.items()
        if key in targets
    }
    rows = [
        [
            CRYPTO_CONTENDERS.get(name, name),
            number(value),
            ratio(ratios[name]) if name in ratios else "",
            ratio(paired[name]) if name in paired else "",
            f"{number(min(rounds[name]))}{DASH}{number(max(rounds[name]))}"
            if rounds.get(name)
            else "",
            by_row.get(name, ""),
        ]
        for name, value in ops.items()
    ]
    lines = [
        f"{result.get('unit')[:1].upper()}{result.get('unit')[1:]}; one order's PII is "
        f"{number(result.get('pii_bytes'))} bytes of JSON. Median of {result.get('rounds')} "
        "rounds; *paired* is the median of the per-round ratios."
        + (
            f" The ordervault row ran on the `{backend}` backend (`crypto.backend()`)."
            # Results written before the compiled backend existed do not say.
            if (backend := result.data.get("ordervault_backend"))
            else ""
        ),
        "",
        *table(
            ["contender", "records/s", f"ordervault {TIMES}", "paired", "rounds", "target"],
            rows,
            "lrrrrl",
        ),
    ]
    cache = result.get("cache")
    hit_target = targets.get("cache_hit_rate")
    lines += [
        "",
        "Bucket-key cache, each order sealed then opened, expiry days drawn at random:",
        "",
        *table(
            ["orders", "expiry days", "lookups", "hits", "misses", "hit rate", "target"],
            [
                [
                    number(cache["orders"]),
                    number(cache["expiry_days"]),
                    number(cache["lookups"]),
                    number(cache["hits"]),
                    number(cache["misses"]),
                    f"{cache['hit_rate']:.3%}",
                    (
                        f"≥ {hit_target['target']:.1%}: {verdict(hit_target['met'])}"
                        if hit_target
                        else ""
                    ),
                ]
            ],
            "rrrrrrl",
        ),
    ]
    return lines


# -- pipeline --------------------------------------------------------------------------------

BROKERS = {"rabbitmq": "RabbitMQ", "redis": "Redis"}
DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
PIPELINE_TARGETS = {
    "ingest_postgresql_orders_per_s": "ingest, PostgreSQL",
    "forward_single_orders_per_s": "forwarding, one order per POST (best configuration)",
    "forward_batch_orders_per_s": "forwarding, batched (best configuration)",
}
PROFILE_ROWS = 12


def pipeline(result: Result) -> list[str]:
    forwarding = result.get("forwarding")
    lines = [
        f"Orders per second, median of {result.get('runs')} runs. Forwarding: "
        f"`ordervault worker` processes of {forwarding['worker_threads']} threads each, "
        f"`batch_size = {forwarding['batch_size']}` in batch mode, to a local HTTPS webhook.",
        "",
        "Targets:",
        "",
    ]
    target_rows = []
    for key, target in result.get("targets").items():
        short = target["target"] / target["value"] if target["value"] else None
        target_rows.append(
            [
                PIPELINE_TARGETS.get(key, key),
                f"{number(target['value'])} orders/s",
                f"≥ {number(target['target'])}",
                verdict(target["met"]),
                f"{ratio(short)}{TIMES} short" if short and not target["met"] else "",
            ]
        )
    lines += table(["path", "measured", "target", "verdict", "gap"], target_rows, "lrrll")

    lines += [
        "",
        "Ingest, one process: `Ingestor.store_pages` (as a pull stores its pages: the next page "
        "sealed while one is written), the same pages one after the other (`Ingestor.store_many` "
        "per page), and `Ingestor.store` one order at a time:",
        "",
    ]
    ingest_rows = []
    for name, figures in result.get("ingest").items():
        single = figures.get("single_orders_per_s")
        sequential = figures.get("sequential_orders_per_s")
        ingest_rows.append(
            [
                DATABASES.get(name, name),
                number(figures["orders_per_s"]),
                ", ".join(number(v) for v in figures["runs_orders_per_s"]),
                NO_FIGURE if sequential is None else number(sequential),
                ", ".join(number(v) for v in figures.get("sequential_runs_orders_per_s", [])),
                number(figures["orders_per_run"]),
                number(figures["page_orders"]) if "page_orders" in figures else NO_FIGURE,
                NO_FIGURE if single is None else number(single),
                ", ".join(number(v) for v in figures.get("single_runs_orders_per_s", [])),
            ]
        )
    lines += table(
        [
            "database",
            "orders/s (pages)",
            "runs",
            "orders/s (pages one after another)",
            "runs",
            "orders per run",
            "page",
            "orders/s (one by one)",
            "runs",
        ],
        ingest_rows,
        "lrrrrrrrr",
    )

    lines += ["", "Forwarding (PostgreSQL, from `Jobs.enqueue_deliveries` to delivered):", ""]
    results: dict[str, dict[str, Any]] = forwarding["results"]
    lines += table(
        [
            "broker",
            "mode",
            "workers",
            "orders/s",
            "runs",
            f"{TIMES} 1 worker",
            f"batch {TIMES} single",
            "enqueue s",
            "worker peak RSS MiB",
        ],
        [_forwarding_row(key, figures, results) for key, figures in results.items()],
        "llrrrrrrr",
    )

    rss = result.get("peak_rss_mib")
    receiver = forwarding["receiver"]
    lines += [
        "",
        "Peak RSS (MiB): "
        + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in rss.items())
        + ". Receiver, all runs and warm-ups: "
        + ", ".join(f"{number(value)} {name}" for name, value in receiver.items())
        + ".",
    ]
    profile = result.data.get("profile_ingest_postgresql")
    if profile:
        lines += _profile(profile)
    return lines


def _forwarding_key(key: str) -> tuple[str, str, int]:
    broker, mode, workers = key.split("/")
    return broker, mode, int(workers.rstrip("w"))


def _forwarding_row(key: str, figures: dict[str, Any], results: dict[str, Any]) -> list[str]:
    broker, mode, workers = _forwarding_key(key)
    one_worker = results.get(f"{broker}/{mode}/1w")
    single = results.get(f"{broker}/single/{workers}w")
    rss = ", ".join(NO_FIGURE if m is None else str(m) for m in figures["worker_peak_rss_mib"])
    return [
        BROKERS.get(broker, broker),
        mode,
        str(workers),
        number(figures["orders_per_s"]),
        ", ".join(number(v) for v in figures["runs_orders_per_s"]),
        ratio(figures["orders_per_s"] / one_worker["orders_per_s"])
        if workers > 1 and one_worker
        else "",
        ratio(figures["orders_per_s"] / single["orders_per_s"])
        if mode != "single" and single
        else "",
        ", ".join(number(v, 2) for v in figures["enqueue_s"]),
        rss,
    ]


def _profile(profile: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Where ingest time goes: cProfile of {number(profile['profiled_orders'])} PostgreSQL "
        f"ingests ({number(profile['profile_total_s'], 1)} s). ordervault's functions by "
        "cumulative share of the time:",
        "",
    ]
    lines += table(
        ["function", "calls per order", "cumulative share"],
        [
            [f"`{f['function']}`", number(f["calls_per_order"], 1), f"{f['cumulative_share']:.1%}"]
            for f in profile["ordervault_cumulative"][:PROFILE_ROWS]
        ],
        "lrr",
    )
    lines += ["", "All functions by own time:", ""]
    lines += table(
        ["function", "calls per order", "own share"],
        [
            [f"`{f['function']}`", number(f["calls_per_order"], 1), f"{f['own_share']:.1%}"]
            for f in profile["top_own_time"][:PROFILE_ROWS]
        ],
        "lrr",
    )
    return lines


# -- the page --------------------------------------------------------------------------------

#: result name -> (section title, renderer); sections appear in this order, unknown ones last.
RENDERERS: dict[str, tuple[str, Callable[[Result], list[str]]]] = {
    "amazon_ratelimit": ("Amazon rate limiting", amazon_ratelimit),
    "crypto": ("Crypto", crypto),
    "pipeline": ("Pipeline", pipeline),
}


def load_results(results_dir: Path) -> list[Result]:
    results = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RenderError(f"{path}: not readable as JSON ({exc})") from None
        if not isinstance(data, dict):
            raise RenderError(f"{path}: not a JSON object")
        results.append(Result(path.stem, path, data))
    order = list(RENDERERS)
    return sorted(results, key=lambda r: order.index(r.name) if r.name in order else len(order))


def split_notes(text: str) -> tuple[str, str]:
    """(above the tables, below them)."""
    above, marker, below = text.partition(TABLES_MARKER)
    return (above.strip(), below.strip()) if marker else ("", text.strip())


def section(result: Result, notes_dir: Path) -> Iterator[str]:
    title, render = RENDERERS.get(result.name, (result.name, None))
    notes_file = notes_dir / f"{result.name}.md"
    above, below = split_notes(notes_file.read_text("utf-8")) if notes_file.exists() else ("", "")
    yield f"## {title}"
    yield ""
    if above:
        yield above
        yield ""
    info = run_info(result)
    yield f"Run of {info.date}; `{result.path.name}`."
    yield ""
    if render is None:
        yield f"No renderer for `{result.name}` in bench/render.py; the figures are in the JSON."
    else:
        try:
            yield from render(result)
        except (
            KeyError,
            IndexError,
            TypeError,
            ValueError,
            AttributeError,
            ZeroDivisionError,
        ) as exc:
            raise RenderError(
                f"{result.path}: cannot render ({type(exc).__name__}: {exc})"
            ) from exc
    if below:
        yield ""
        yield below
    yield ""


def render_page(results: list[Result], notes_dir: Path) -> str:
    lines = [
        "# Benchmark results",
        "",
        "<!-- Rendered by `make bench-render` (bench/render.py) from bench/results/*.json and",
        "     bench/notes/*.md. Edit those, not this file. -->",
        "",
        "Each benchmark measures ordervault against the peers a user would pick instead, in the "
        "same run.",
        "Every figure below is read from the JSON the run wrote; the JSON holds more (every "
        "round, every run).",
        "",
    ]
    infos = [(r, run_info(r)) for r in results]
    lines += table(
        ["benchmark", "run", "machine", "CPUs", "Python"],
        [
            [RENDERERS.get(r.name, (r.name,))[0], i.date, i.machine, i.cpus, i.python]
            for r, i in infos
        ],
        "lllrl",
    )
    lines.append("")
    for result in results:
        lines += section(result, notes_dir)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument("--notes", type=Path, default=BENCH / "notes")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.results)
        if not results:
            raise RenderError(f"{args.results}: no *.json results to render")
        page = render_page(results, args.notes)
    except RenderError as exc:
        print(f"bench/render.py: {exc}", file=sys.stderr)
        return 1
    args.out.write_text(page, encoding="utf-8")
    print(f"wrote {args.out} from {len(results)} result file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

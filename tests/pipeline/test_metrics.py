"""Prometheus metrics: counters scraped over loopback; label values are names, never PII."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import generate_latest

from pipeline import metrics
from pipeline.access import Purpose
from pipeline.metrics import MetricsServer, start_metrics_server


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    running = start_metrics_server("127.0.0.1", 0)  # port 0: any free port
    yield running
    running.close()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in the text exposition format."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and line.split("}", 1)[0] == f"{name}{{{wanted}":
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{{{wanted}}} in the scrape")


def scrape(server: MetricsServer) -> str:
    response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    assert response.status_code == 200
    return response.text


def test_counters_are_scraped_over_loopback(server: MetricsServer) -> None:
    before = scrape(server)
    assert "ordervault_deliveries_total" in before  # described even before the first increment

    metrics.record_delivery("metrics-a", "erp", "delivered", 3)
    metrics.record_delivery("metrics-a", "erp", "dead")
    metrics.record_decrypt("metrics-a", "forward", 3)
    metrics.record_order_stored("metrics-a", "created", 5)
    metrics.record_order_stored("metrics-a", "quarantined")
    metrics.record_bucket_keys_destroyed("metrics-a", 2)

    text = scrape(server)
    labels = {"client": "metrics-a"}
    assert sample(text, "ordervault_deliveries_total", **labels, destination="erp",
                  outcome="delivered") == 3  # fmt: skip
    assert sample(text, "ordervault_deliveries_total", **labels, destination="erp",
                  outcome="dead") == 1  # fmt: skip
    assert sample(text, "ordervault_decrypts_total", **labels, purpose="forward") == 3
    assert sample(text, "ordervault_orders_stored_total", **labels, outcome="created") == 5
    assert sample(text, "ordervault_orders_stored_total", **labels, outcome="quarantined") == 1
    assert sample(text, "ordervault_bucket_keys_destroyed_total", **labels) == 2


def test_the_server_binds_only_the_given_address(server: MetricsServer) -> None:
    assert server.address == "127.0.0.1"
    assert metrics.DEFAULT_ADDRESS == "127.0.0.1"


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (metrics.record_delivery, ("acme", "jane.doe@example.com", "delivered")),
        (metrics.record_delivery, ("acme", "erp", "Jane Doe")),
        (metrics.record_decrypt, ("acme", "curiosity")),
        (metrics.record_order_stored, ("Jane Doe, 1 Main St", "created")),
        (metrics.record_bucket_keys_destroyed, ("114-1234567-1234567 ",)),
    ],
)
def test_label_values_that_are_not_names_are_refused(call: object, args: tuple[str, ...]) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match="metric label"):
        call(*args)
    # Nothing about the refused value reached the registry.
    text = exposition()
    assert all(arg not in text for arg in args if " " in arg or "@" in arg)


def exposition() -> str:
    return generate_latest(metrics.REGISTRY).decode()


def test_decrypt_purposes_are_the_audited_purposes() -> None:
    assert {p.value for p in Purpose} == metrics.DECRYPT_PURPOSES

"""`/healthz` says whether the databases answer; `/metrics` serves the Prometheus counters."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
import sqlalchemy as sa

from pipeline.http.app import create_app
from pipeline.http.asgi import Request, Response, Router
from pipeline.metrics import record_delivery
from tests.fixtures.runtime import Deployment

pytestmark = pytest.mark.anyio


async def get(app: Router, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ov.test") as http:
        return await http.get(path)


async def test_healthz_is_200_when_both_databases_answer(deployment: Deployment) -> None:
    response = await get(create_app(deployment.runtime), "/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "keystore": "ok"}


async def test_healthz_is_503_when_the_database_does_not_answer(
    deployment: Deployment,
) -> None:
    gone = sa.create_engine("sqlite:////nonexistent-ordervault-dir/data.db")
    runtime = dataclasses.replace(deployment.runtime, data_engine=gone)
    response = await get(create_app(runtime), "/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "unavailable", "keystore": "ok"}


async def test_metrics_serves_the_prometheus_registry(deployment: Deployment) -> None:
    record_delivery("acme", "erp", "delivered")
    response = await get(create_app(deployment.runtime), "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    line = next(
        line
        for line in response.text.splitlines()
        if line.startswith("ordervault_deliveries_total{")
        and 'client="acme"' in line
        and 'outcome="delivered"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) >= 1


async def test_unknown_paths_and_methods(deployment: Deployment) -> None:
    app = create_app(deployment.runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ov.test") as http:
        missing = await http.get("/nope")
        wrong_method = await http.post("/healthz", content=b"x")
    assert missing.status_code == 404
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET"


async def test_router_limits_bodies_and_hides_handler_errors() -> None:
    async def echo(request: Request) -> Response:
        return Response(200, request.body, "application/octet-stream")

    async def broken(request: Request) -> Response:
        raise RuntimeError("buyer zqxjw_buyer not found")

    router = Router(max_body_bytes=10)
    router.add("POST", "/echo", echo)
    router.add("GET", "/broken", broken)
    transport = httpx.ASGITransport(app=router)
    async with httpx.AsyncClient(transport=transport, base_url="http://ov.test") as http:
        fits = await http.post("/echo", content=b"x" * 10)
        too_large = await http.post("/echo", content=b"x" * 11)
        failed = await http.get("/broken")
    assert (fits.status_code, fits.content) == (200, b"x" * 10)
    assert too_large.status_code == 413
    assert failed.status_code == 500
    assert "zqxjw" not in failed.text

"""Operational endpoints: `/healthz` (do the databases answer?) and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.http.asgi import Request, Response
from pipeline.metrics import REGISTRY
from pipeline.runtime import Runtime

__all__ = ["Probes"]


def _answers(engine: sa.Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True


class Probes:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def healthz(self, request: Request) -> Response:
        # Both databases: without the key store no order can be sealed, opened or erased.
        database, keystore = await asyncio.gather(
            asyncio.to_thread(_answers, self._runtime.data_engine),
            asyncio.to_thread(_answers, self._runtime.keystore_engine),
        )
        status = {"database": _word(database), "keystore": _word(keystore)}
        return Response.json(200 if database and keystore else 503, status)

    async def metrics(self, request: Request) -> Response:
        return Response(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)


def _word(ok: bool) -> str:
    return "ok" if ok else "unavailable"

"""`ordervault serve`: the HTTP endpoint (health, metrics, eBay account deletion) under uvicorn."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import dramatiq
import typer
import uvicorn

from pipeline.cli.app import app, err_console, state
from pipeline.http.app import create_app
from pipeline.http.ebay_app_token import AppTokenSource
from pipeline.http.ebay_deletion import EbayAccountDeletionEndpoint
from pipeline.http.ebay_keys import (
    EbayKeySettings,
    HttpKeyFetcher,
    PublicKeyCache,
)
from pipeline.jobs.account_deletion import register_account_deletion_actor
from pipeline.jobs.broker import is_inline, make_broker, worker
from pipeline.runtime import Runtime
from pipeline.settings import EbayNotificationSettings

log = logging.getLogger(__name__)

INLINE_WORKER_THREADS = 2


@dataclass(frozen=True)
class _ActorHost:
    broker: dramatiq.Broker
    runtime: Runtime


class ServeConfigError(Exception):
    pass


def key_settings(section: EbayNotificationSettings) -> EbayKeySettings:
    """The signing-key source from `[ebay_notifications]`: minted tokens, or a fixed one."""
    source = None
    if section.app_id is not None and section.cert_id is not None:
        source = AppTokenSource(section.app_id, section.cert_id, oauth_url=section.oauth_url)
    elif section.app_token is None:
        raise ServeConfigError(
            "[ebay_notifications] needs app_id and cert_id (or app_token) to fetch eBay's "
            "signing keys"
        )
    return EbayKeySettings(
        app_token=section.app_token, public_key_url=section.public_key_url, token_source=source
    )


@contextmanager
def _stop_signals_return() -> Iterator[None]:
    """Let SIGTERM and SIGINT end `uvicorn.run` by returning, not by killing the process.

    uvicorn re-raises the signal it stopped on once it has shut down, to the handler that was
    installed before it; the default one would kill the process before the inline worker has
    run the erasures already acknowledged to eBay.
    """
    stop_signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in stop_signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command("serve")
def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8080,
) -> None:
    """Serve /healthz, /metrics and /ebay/account-deletion until SIGTERM or Ctrl-C."""
    config = state(ctx).load()
    section = config.settings.ebay_notifications
    try:
        keys = key_settings(section) if section is not None else None
    except ServeConfigError as exc:
        err_console.print(f"[red]error:[/] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(code=2) from None
    runtime = Runtime.open(config)
    broker = make_broker(config.settings.broker.connect_url)
    erase_actor = register_account_deletion_actor(_ActorHost(broker, runtime))
    # With the inline broker nothing else runs the accepted erasures: run them here.
    inline_worker = worker(broker, threads=INLINE_WORKER_THREADS) if is_inline(broker) else None
    try:
        ebay = None
        if section is not None and keys is not None:
            fetcher = HttpKeyFetcher(keys)
            ebay = EbayAccountDeletionEndpoint(
                runtime,
                endpoint_url=section.endpoint_url,
                verification_token=section.verification_token,
                keys=PublicKeyCache(
                    fetcher, ttl_s=keys.ttl_s, clock_s=lambda: runtime.clock().timestamp()
                ),
                send_erase=erase_actor.send,
            )
        if inline_worker is not None:
            inline_worker.start()
        log.info("serving on %s:%d (eBay account deletion %s)", host, port, "on" if ebay else "off")
        with _stop_signals_return():
            uvicorn.run(
                create_app(runtime, ebay=ebay),
                host=host,
                port=port,
                log_config=None,
                server_header=False,
            )
        log.info("stopped serving")
    finally:
        if inline_worker is not None:
            inline_worker.join()  # the accepted erasures run before the process ends
            inline_worker.stop()
        broker.close()
        runtime.close()

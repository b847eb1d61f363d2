"""A fake Selling Partner API on 127.0.0.1: LWA, Tokens, Orders v2026-01-01 and v0.

    with FakeSpApi([SellerSpec(orders=250)], time_scale=100) as fake:
        settings = AmazonAccountSettings(..., endpoint=fake.url, lwa_endpoint=fake.lwa_url)
        fake.faults.inject(FaultKind.HTML_503, operation="orders.searchOrders", times=2)

It serves Amazon's sandbox examples as they are (any operation of the three models, when a
request carries an example's parameters) and any number of synthetic orders that validate
against the official schemas. It enforces each operation's usage plan per seller (parsed from
the models; a 429 with Amazon's JSON body when exceeded) on a clock `time_scale` times faster
than real time, and injects faults on demand. Every request is recorded for assertions.

`python -m connectors.fakes.spapi --orders 2000 --time-scale 100` runs it standalone and prints
its URL and the synthetic seller's credentials as one JSON line; `/_fake/*` endpoints expose
request counts, faults and bucket draining to a process that did not start it.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.fakes.amazon_orders import FakeOrder
from connectors.fakes.clock import DEFAULT_EPOCH, ScaledTime
from connectors.fakes.faults import Faults
from connectors.fakes.models import load_models
from connectors.fakes.spapi_app import LWA_PATH, RequestRecord, SpApiApp
from connectors.fakes.spapi_state import SellerSpec, ServerState

__all__ = ["FakeSpApi", "RequestRecord", "SellerSpec"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is closed after this many real seconds
    # Headers and body go out in two writes; with Nagle on, the body waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = parse_qs(url.query, keep_blank_values=True)
        reply = self.server.app.handle(method, unquote(url.path), query, headers, body)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("x-amzn-RequestId", f"fake-{time.monotonic_ns()}")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: SpApiApp


class FakeSpApi:
    def __init__(
        self,
        sellers: Sequence[SellerSpec] = (SellerSpec(),),
        *,
        time_scale: float = 1.0,
        epoch: datetime = DEFAULT_EPOCH,
        enforce_plans: bool = True,
        orders_start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
        spread_days: int = 30,
        token_lifetime_s: float = 3600.0,
        page_token_lifetime_s: float = 86_400.0,
        validate_responses: bool = True,
        models_directory: Path | None = None,
        port: int = 0,
    ) -> None:
        self.clock = ScaledTime(time_scale, epoch=epoch)
        self.faults = Faults()
        self.models = load_models(models_directory)
        self.state = ServerState(
            tuple(sellers),
            orders_start=orders_start,
            spread_days=spread_days,
            token_lifetime_s=token_lifetime_s,
            page_token_lifetime_s=page_token_lifetime_s,
        )
        self.app = SpApiApp(
            self.state,
            self.models,
            self.clock,
            self.faults,
            enforce_plans=enforce_plans,
            validate=validate_responses,
        )
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeSpApi:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.app = self.app
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one poll
            name="fake-spapi",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSpApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake SP-API is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def lwa_url(self) -> str:
        return self.url + LWA_PATH

    # -- inspection ----------------------------------------------------------------------

    def seller(self, name: str | None = None) -> SellerSpec:
        return self.state.sellers[name] if name else next(iter(self.state.sellers.values()))

    def orders(self, seller: str | None = None) -> list[FakeOrder]:
        return self.state.orders[self.seller(seller).name]

    def records(self) -> list[RequestRecord]:
        return self.app.snapshot()

    def count(
        self, operation: str | None = None, *, status: int | None = None, seller: str | None = None
    ) -> int:
        return sum(
            1
            for r in self.app.snapshot()
            if (operation is None or r.operation == operation)
            and (status is None or r.status == status)
            and (seller is None or r.seller == seller)
        )

    def drain(self, operation: str, seller: str | None = None) -> None:
        """Empty a bucket, as if earlier calls had spent the burst."""
        self.state.drain(self.seller(seller).name, operation, self.clock.elapsed_s())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Selling Partner API on loopback.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--marketplace", action="append", dest="marketplaces")
    parser.add_argument("--no-plans", action="store_true", help="do not enforce usage plans")
    parser.add_argument("--no-validate", action="store_true", help="skip schema self-checks")
    parser.add_argument("--token-lifetime-s", type=float, default=3600.0)
    args = parser.parse_args(argv)
    seller = SellerSpec(
        orders=args.orders,
        seed=args.seed,
        marketplace_ids=tuple(args.marketplaces or ("A1PA6795UKMFR9",)),
    )
    fake = FakeSpApi(
        [seller],
        time_scale=args.time_scale,
        enforce_plans=not args.no_plans,
        validate_responses=not args.no_validate,
        token_lifetime_s=args.token_lifetime_s,
        port=args.port,
    ).start()
    print(
        json.dumps(
            {
                "url": fake.url,
                "lwa_url": fake.lwa_url,
                "seller": seller.name,
                "refresh_token": seller.refresh_token,
                "lwa_client_id": seller.lwa_client_id,
                "lwa_client_secret": seller.lwa_client_secret,
                "marketplace_ids": list(seller.marketplace_ids),
            }
        ),
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()

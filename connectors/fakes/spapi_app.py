"""The fake SP-API's request handling: route, faults, credentials, usage plans, sandbox, data.

Request in, reply out, no sockets: `spapi.py` puts an HTTP server around it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from connectors.fakes.clock import ScaledTime
from connectors.fakes.faults import FaultKind, Faults, cut
from connectors.fakes.models import ApiModels, Operation, SandboxExample
from connectors.fakes.spapi_handlers import OrderHandlers, Reply, error_reply, json_reply
from connectors.fakes.spapi_state import Credential, ServerState

__all__ = ["LWA_PATH", "RequestRecord", "SpApiApp"]

LWA_PATH = "/auth/o2/token"
_HTML_503 = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)


@dataclass(frozen=True)
class RequestRecord:
    at_s: float  # arrival, in scaled seconds since the server started
    operation: str
    seller: str | None
    status: int
    credential: str | None  # "lwa", "rdt" or None


class SpApiApp:
    """Request in, reply out; the HTTP layer around it is thin."""

    def __init__(
        self,
        state: ServerState,
        models: ApiModels,
        clock: ScaledTime,
        faults: Faults,
        *,
        enforce_plans: bool,
        validate: bool,
    ) -> None:
        self.state = state
        self.models = models
        self.clock = clock
        self.faults = faults
        self.enforce_plans = enforce_plans
        self.handlers = OrderHandlers(state, models, validate=validate)
        self._lock = threading.Lock()
        self.records: list[RequestRecord] = []

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        if path.startswith("/_fake/"):
            return self._admin(method, path, body)
        arrived_s = self.clock.elapsed_s()
        if method == "POST" and path == LWA_PATH:
            reply, seller = self._lwa(body, arrived_s)
            self._record(arrived_s, "lwa.token", seller, reply.status, None)
            return reply
        routed = self.models.route(method, path)
        if routed is None:
            reply = error_reply(404, "NotFound", "Resource not found")
            self._record(arrived_s, "unknown", None, 404, None)
            return reply
        operation, path_params = routed
        reply, credential = self._operation(
            operation, path_params, method, path, query, headers, body, arrived_s
        )
        self._record(
            arrived_s,
            operation.name,
            credential.seller if credential else None,
            reply.status,
            credential.kind if credential else None,
        )
        return reply

    def _operation(
        self,
        operation: Operation,
        path_params: dict[str, str],
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        now_s: float,
    ) -> tuple[Reply, Credential | None]:
        fault = self.faults.take(operation.name)
        if fault is not None and fault.kind not in (FaultKind.TRUNCATED, FaultKind.SLOW):
            return _fault_reply(fault.kind, operation), None
        credential = self.state.credential(headers.get("x-amz-access-token", ""))
        refused = _refusal(credential, method, path, operation, now_s)
        if refused is not None:
            return refused, credential
        assert credential is not None
        seller = self.state.sellers[credential.seller]
        rate_per_s = seller.rates_per_s.get(operation.name, operation.rate_per_s)
        limit_header = {"x-amzn-RateLimit-Limit": f"{rate_per_s:g}"} if rate_per_s else {}
        if (
            self.enforce_plans
            and rate_per_s
            and operation.burst
            and not self.state.take_token(
                seller.name, operation.name, rate_per_s, operation.burst, now_s
            )
        ):
            reply = error_reply(
                429, "QuotaExceeded", "You exceeded your quota for the requested resource."
            )
            reply.headers.update(limit_header)
            return reply, credential
        params = {name: ",".join(values) for name, values in query.items()}
        reply = self._sandbox(operation, {**params, **path_params}, body) or self._synthetic(
            operation, seller.name, credential, method, path, params, path_params, body, now_s
        )
        reply.headers.update(limit_header)
        if fault is not None and fault.kind is FaultKind.TRUNCATED:
            reply.body = cut(reply.body, fault.cut_after)
        if fault is not None and fault.kind is FaultKind.SLOW:
            reply.delay_s = fault.delay_s
        return reply, credential

    def _synthetic(
        self,
        operation: Operation,
        seller: str,
        credential: Credential,
        method: str,
        path: str,
        params: dict[str, str],
        path_params: dict[str, str],
        body: bytes,
        now_s: float,
    ) -> Reply:
        now = self.clock.now()
        elements = credential.data_elements(method, path)
        match operation.name:
            case "orders.searchOrders":
                return self.handlers.search_orders(seller, params, now, now_s)
            case "orders.getOrder":
                return self.handlers.get_order(seller, path_params["orderId"], params)
            case "ordersV0.getOrders":
                return self.handlers.get_orders_v0(seller, params, elements, now, now_s)
            case "ordersV0.getOrderItems":
                return self.handlers.get_order_items_v0(seller, path_params["orderId"], elements)
            case "tokens.createRestrictedDataToken":
                if credential.kind != "lwa":
                    return error_reply(
                        403, "Unauthorized", "Access to requested resource is denied."
                    )
                return self.handlers.create_rdt(seller, body, now_s)
        return error_reply(404, "NotFound", "This operation serves sandbox examples only")

    def _sandbox(self, operation: Operation, params: dict[str, str], body: bytes) -> Reply | None:
        best: SandboxExample | None = None
        for example in operation.sandbox:
            if _matches(example, params, body) and (
                best is None or len(example.parameters) > len(best.parameters)
            ):
                best = example
        return json_reply(best.status, best.response) if best else None

    def _lwa(self, body: bytes, now_s: float) -> tuple[Reply, str | None]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return json_reply(
                400, {"error": "unsupported_grant_type", "error_description": ""}
            ), None
        seller = self.state.seller_by_refresh_token(form.get("refresh_token", ""))
        if seller is None:
            description = "The request has an invalid grant parameter : refresh_token"
            return json_reply(
                400, {"error": "invalid_grant", "error_description": description}
            ), None
        if (form.get("client_id"), form.get("client_secret")) != (
            seller.lwa_client_id,
            seller.lwa_client_secret,
        ):
            description = "Client authentication failed"
            return json_reply(
                401, {"error": "invalid_client", "error_description": description}
            ), None
        token = self.state.issue(seller.name, "lwa", now_s)
        document = {
            "access_token": token,
            "refresh_token": seller.refresh_token,
            "token_type": "bearer",
            "expires_in": int(self.state.token_lifetime_s),
        }
        return json_reply(200, document), seller.name

    def _admin(self, method: str, path: str, body: bytes) -> Reply:
        request = json.loads(body or b"{}")
        if method == "GET" and path == "/_fake/stats":
            counts: dict[str, dict[str, int]] = {}
            for record in self.snapshot():
                by_status = counts.setdefault(record.operation, {})
                by_status[str(record.status)] = by_status.get(str(record.status), 0) + 1
            return json_reply(200, {"requests": counts})
        if method == "POST" and path == "/_fake/reset":
            with self._lock:
                self.records.clear()
            return json_reply(200, {})
        if method == "POST" and path == "/_fake/drain":
            self.state.drain(request["seller"], request["operation"], self.clock.elapsed_s())
            return json_reply(200, {})
        if method == "POST" and path == "/_fake/faults":
            self.faults.inject(
                request["kind"],
                operation=request.get("operation"),
                times=int(request.get("times", 1)),
                delay_s=float(request.get("delay_s", 0.0)),
                cut_after=request.get("cut_after"),
            )
            return json_reply(200, {})
        return error_reply(404, "NotFound", "unknown admin endpoint")

    def _record(
        self, at_s: float, operation: str, seller: str | None, status: int, kind: str | None
    ) -> None:
        with self._lock:
            self.records.append(RequestRecord(at_s, operation, seller, status, kind))

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.records)


def _refusal(
    credential: Credential | None, method: str, path: str, operation: Operation, now_s: float
) -> Reply | None:
    denied = "Access to requested resource is denied."
    if credential is None:
        return error_reply(403, "Unauthorized", denied)
    if now_s >= credential.expires_at_s:
        return error_reply(
            403, "Unauthorized", denied, "The access token you provided has expired."
        )
    if credential.kind == "rdt" and not any(r.covers(method, path) for r in credential.resources):
        return error_reply(
            403, "Unauthorized", denied, "The restricted data token does not cover this resource."
        )
    return None


def _fault_reply(kind: FaultKind, operation: Operation) -> Reply:
    limit = {"x-amzn-RateLimit-Limit": f"{operation.rate_per_s:g}"} if operation.rate_per_s else {}
    if kind is FaultKind.THROTTLE:
        reply = error_reply(
            429, "QuotaExceeded", "You exceeded your quota for the requested resource."
        )
        reply.headers.update(limit)
        return reply
    if kind is FaultKind.THROTTLE_EMPTY:
        return Reply(429, b"", content_type="text/plain")
    if kind is FaultKind.SERVER_ERROR:
        return error_reply(
            500, "InternalFailure", "We encountered an internal error. Please try again."
        )
    return Reply(503, _HTML_503, content_type="text/html")


def _matches(example: SandboxExample, params: dict[str, str], body: bytes) -> bool:
    for name, expected in example.parameters.items():
        if name == "body":
            try:
                actual = json.loads(body or b"null")
            except ValueError:
                return False
            if not isinstance(expected, dict) or not isinstance(actual, dict):
                return False
            if any(actual.get(key) != value for key, value in expected.items()):
                return False
            continue
        if name not in params:
            return False
        given = params[name]
        if isinstance(expected, list):
            if given.split(",") != [str(v) for v in expected]:
                return False
        elif given != str(expected):
            return False
    return bool(example.parameters)

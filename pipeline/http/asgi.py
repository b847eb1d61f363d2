"""A small ASGI router: exact paths, one handler per method, whole bodies, no framework.

The endpoints here are few and simple, so a framework would add more surface than it saves.
Bodies are read whole up to `max_body_bytes` (413 beyond); an unhandled error answers 500 and
logs only the exception's type, since a message could quote a request that holds PII.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["Handler", "Request", "Response", "Router"]

log = logging.getLogger(__name__)

# The ASGI 3 shapes, as servers and clients (uvicorn, httpx) type them.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    # Lower-case names; a repeated header keeps its last value.
    headers: dict[str, str]
    body: bytes

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any) -> Response:
        return cls(status, json.dumps(value).encode(), "application/json")

    @classmethod
    def empty(cls, status: int) -> Response:
        return cls(status)


Handler = Callable[[Request], Awaitable[Response]]


class _BodyTooLarge(Exception):
    pass


class Router:
    """An ASGI application dispatching on (method, exact path)."""

    def __init__(self, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._routes: dict[str, dict[str, Handler]] = {}
        self._max_body_bytes = max_body_bytes

    def add(self, method: str, path: str, handler: Handler) -> None:
        self._routes.setdefault(path, {})[method.upper()] = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        response = await self._respond(scope, receive)
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
        ]
        if response.content_type is not None:
            headers.append((b"content-type", response.content_type.encode("latin-1")))
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        method = str(scope["method"]).upper()
        path = str(scope["path"])
        methods = self._routes.get(path)
        if methods is None:
            return Response.json(404, {"error": "not found"})
        handler = methods.get(method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            return Response(405, b"", None, {"allow": allow})
        try:
            body = await self._read_body(receive)
        except _BodyTooLarge:
            return Response.json(413, {"error": "request body too large"})
        request = Request(
            method=method,
            path=path,
            query=parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1")),
            headers={
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in scope.get("headers", [])
            },
            body=body,
        )
        try:
            response = await handler(request)
        except Exception as exc:  # noqa: BLE001 - the server must answer, and say nothing more
            log.error("%s %s failed: %s", method, path, type(exc).__name__)
            return Response.json(500, {"error": "internal error"})
        return response

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self._max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

"""python-amazon-sp-api clients for one account, with three corrections.

- The library builds the `host` header as `endpoint[8:]`, which is wrong for an `http://`
  endpoint (a loopback fake): we derive it from the URL.
- The library parses an error response without a JSON `errors` list as success, and a
  truncated JSON body as an empty one: every response goes through `check_response`, and the
  `ApiResponse` is built from the document it checked.
- Access tokens come from the account's own `LwaTokens`, not the library's shared cache.

The library's operation methods (`search_orders`, `get_orders`, `get_order_items`,
`create_restricted_data_token`) are used as they are; 2.1.35 has all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sp_api.api.orders.orders_2026_01_01 import OrdersV20260101
from sp_api.api.orders.orders_v0 import OrdersV0
from sp_api.api.tokens.tokens import Tokens
from sp_api.base import ApiResponse, Marketplaces
from sp_api.base.credential_provider import FromCodeCredentialProvider

from connectors.amazon.errors import check_response
from connectors.amazon.lwa import LwaTokens
from connectors.amazon.settings import AmazonAccountSettings
from connectors.ratelimit.base import Clock

__all__ = ["SpApiClients", "build_clients"]

# ApiResponse's own parameters, which a key of the document must not collide with.
_RESERVED = frozenset({"self", "headers"})
# Any marketplace of the region: the library wants one, we override endpoint and id anyway.
_REGION_MARKETPLACE = {"na": Marketplaces.US, "eu": Marketplaces.DE, "fe": Marketplaces.JP}


class _Checked:
    """Mixin for the library's `Client` subclasses (see the module docstring)."""

    endpoint: str
    restricted_data_token: str | None
    auth: Any
    user_agent: str
    clock: Clock
    # Set by the caller before each call so that error messages name the operation.
    operation: str = "sp-api"

    @property
    def headers(self) -> dict[str, str]:
        return {
            "host": urlsplit(self.endpoint).netloc,
            "user-agent": self.user_agent,
            "x-amz-access-token": self.restricted_data_token or self.auth.access_token,
            "x-amz-date": self.clock().strftime("%Y%m%dT%H%M%SZ"),
            "content-type": "application/json",
        }

    def _check_response(
        self,
        res: httpx.Response,
        res_no_data: bool = False,
        bulk: bool = False,
        wrap_list: bool = False,
    ) -> ApiResponse:
        document = check_response(self.operation, res.status_code, res.content, res.headers)
        # Built from the checked document rather than by the library, which parses the body
        # again and passes its keys as keyword arguments: a top-level "headers" (or "self")
        # key in Amazon's JSON would then be a TypeError instead of a response. The library's
        # flags do not apply: every operation we call answers with one JSON object.
        fields = {key: value for key, value in document.items() if key not in _RESERVED}
        return ApiResponse(**fields, headers=res.headers)


# The library is untyped, so mypy sees its classes as Any.
class CheckedOrders2026(_Checked, OrdersV20260101):  # type: ignore[misc]
    pass


class CheckedOrdersV0(_Checked, OrdersV0):  # type: ignore[misc]
    pass


class CheckedTokens(_Checked, Tokens):  # type: ignore[misc]
    pass


@dataclass
class SpApiClients:
    orders_2026: Any
    orders_v0: Any
    tokens: Any

    def close(self) -> None:
        for client in (self.orders_2026, self.orders_v0, self.tokens):
            client.close()


def build_clients(
    settings: AmazonAccountSettings, lwa: LwaTokens, *, clock: Clock, timeout_s: float
) -> SpApiClients:
    def build(cls: type[Any]) -> Any:
        client = cls(
            _REGION_MARKETPLACE[settings.region],
            credentials={
                "refresh_token": settings.refresh_token,
                "lwa_app_id": settings.lwa_client_id,
                "lwa_client_secret": settings.lwa_client_secret,
            },
            # Only the values given here: never the environment, config files or AWS secrets.
            credential_providers=(FromCodeCredentialProvider,),
            auth_token_client_class=lwa.library_factory,
            timeout=timeout_s,
        )
        client.endpoint = settings.sp_api_url
        client.marketplace_id = settings.marketplace_ids[0]
        client.clock = clock
        return client

    return SpApiClients(
        orders_2026=build(CheckedOrders2026),
        orders_v0=build(CheckedOrdersV0),
        tokens=build(CheckedTokens),
    )

"""A client's config file (`clients/<id>.toml`): accounts, destinations, retention, PII policy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from connectors.classify import pii_paths
from connectors.order import Order
from pipeline.secrets import SecretRef
from pipeline.settings import StrictModel, check_endpoint, is_loopback_host, resolve_path

__all__ = [
    "AMAZON_MAX_RETENTION_DAYS",
    "EBAY_MAX_RETENTION_DAYS",
    "ORDER_PII_PATHS",
    "AmazonAccount",
    "ClientConfig",
    "Destination",
    "DirectoryDestination",
    "EbayAccount",
    "PiiPolicy",
    "Retention",
    "Schedule",
    "SftpDestination",
    "WebhookDestination",
    "check_endpoint",
    "is_loopback_host",
    "retention_problems",
]

#: Amazon DPP 2.1: PII no longer than 30 days after delivery unless a law requires it.
AMAZON_MAX_RETENTION_DAYS = 30
#: eBay's terms allow keeping order PII up to 90 days after delivery.
EBAY_MAX_RETENTION_DAYS = 90
ORDER_PII_PATHS = frozenset(pii_paths(Order))

Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Retention(StrictModel):
    days_after_delivery: int = Field(default=AMAZON_MAX_RETENTION_DAYS, ge=1, le=3650)
    # The law that requires keeping PII longer than the marketplace allows, if any.
    legal_basis: str | None = Field(default=None, min_length=3)
    # Undelivered orders are kept at most this long after purchase, then shredded.
    max_undelivered_days: int = Field(default=60, ge=1, le=3650)


class PiiPolicy(StrictModel):
    # PII fields this client does not need: dropped before sealing (data minimisation).
    drop: list[str] = []

    @field_validator("drop")
    @classmethod
    def _known_paths(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - ORDER_PII_PATHS)
        if unknown:
            raise ValueError(
                f"not PII fields of an order: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(ORDER_PII_PATHS))})"
            )
        return value


class Schedule(StrictModel):
    pull_every_minutes: int = Field(default=15, ge=1, le=1440)


class AmazonAccount(StrictModel):
    account: Name
    region: Literal["na", "eu", "fe"]
    marketplace_ids: list[Annotated[str, Field(pattern=r"^[A-Z0-9]{10,16}$")]] = Field(min_length=1)
    orders_api: Literal["2026-01-01", "v0"] = "2026-01-01"
    refresh_token: SecretRef
    lwa_client_id: SecretRef
    lwa_client_secret: SecretRef
    endpoint: str | None = None
    lwa_endpoint: str | None = None

    @field_validator("endpoint", "lwa_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint(value, allow_http_loopback=True)


class EbayAccount(StrictModel):
    account: Name
    site_id: int = Field(ge=0, le=500)
    token: SecretRef
    app_id: SecretRef
    dev_id: SecretRef
    cert_id: SecretRef
    endpoint: str | None = None
    daily_call_budget: int = Field(default=5000, ge=1)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        # The eBay connector refuses a query string too (`EbayAccountSettings`): say so here,
        # at start-up, not in every pull.
        if value is None:
            return None
        return check_endpoint(value, allow_http_loopback=True, allow_query=False)


class WebhookDestination(StrictModel):
    name: Name
    type: Literal["webhook"]
    # Plain http, and only to a loopback address: tests and the demo. Declared before `url`
    # because fields validate in declaration order and the url check reads this one.
    insecure_loopback: bool = False
    url: str
    secret: SecretRef
    # Private, link-local or metadata addresses are refused unless allowed here.
    allow_private_network: bool = False
    batch_size: int = Field(default=1, ge=1, le=500)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    client_cert: str | None = None
    client_key: SecretRef | None = None
    # Extra CA bundle to trust for this receiver (a private CA); the system CAs otherwise.
    ca_file: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        allow = bool(info.data.get("insecure_loopback"))
        return check_endpoint(value, allow_http_loopback=allow)

    @field_validator("client_cert", "ca_file")
    @classmethod
    def _cert(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, info)


_HOST_KEY = re.compile(
    r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|rsa-sha2-(256|512)) [A-Za-z0-9+/=]+$"
)


class SftpDestination(StrictModel):
    name: Name
    type: Literal["sftp"]
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    private_key: SecretRef
    # Pinned server host key, as in known_hosts: "<type> <base64>". Anything else is refused.
    host_key: Annotated[str, Field(pattern=_HOST_KEY.pattern)]
    remote_dir: str = "."
    format: Literal["jsonl", "csv"] = "jsonl"
    batch_size: int = Field(default=100, ge=1, le=10_000)
    timeout_s: float = Field(default=30.0, gt=0, le=300)


class DirectoryDestination(StrictModel):
    name: Name
    type: Literal["directory"]
    path: str
    format: Literal["jsonl"] = "jsonl"
    batch_size: int = Field(default=100, ge=1, le=10_000)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, info)


Destination = Annotated[
    WebhookDestination | SftpDestination | DirectoryDestination, Field(discriminator="type")
]


class ClientConfig(StrictModel):
    id: Name
    name: str = Field(min_length=1, max_length=200)
    retention: Retention = Retention()
    pii: PiiPolicy = PiiPolicy()
    schedule: Schedule = Schedule()
    amazon: list[AmazonAccount] = []
    ebay: list[EbayAccount] = []
    destinations: list[Destination] = []

    def problems(self) -> list[tuple[str, str]]:
        """Rules across fields, as (field, reason) pairs; empty when all hold."""
        found = retention_problems(self.model_dump())
        for kind, items in (
            ("amazon", [a.account for a in self.amazon]),
            ("ebay", [e.account for e in self.ebay]),
            ("destinations", [d.name for d in self.destinations]),
        ):
            for index, name in enumerate(items):
                if name in items[:index]:
                    found.append((f"{kind}[{index}]", f"duplicate name {name!r}"))
        return found

    @property
    def retention_days(self) -> int:
        return self.retention.days_after_delivery


def retention_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The marketplaces' retention caps, checked on raw or validated client data.

    Works on the raw file too, so a file with other errors still reports this one.
    """
    retention = data.get("retention") or {}
    if not isinstance(retention, Mapping):
        return []
    days = retention.get("days_after_delivery", AMAZON_MAX_RETENTION_DAYS)
    if not isinstance(days, int) or retention.get("legal_basis"):
        return []
    found = []
    for marketplace, label, cap in (
        ("amazon", "Amazon's", AMAZON_MAX_RETENTION_DAYS),
        ("ebay", "eBay's", EBAY_MAX_RETENTION_DAYS),
    ):
        if data.get(marketplace) and days > cap:
            found.append(
                (
                    "retention.days_after_delivery",
                    f"{days} days exceeds {label} {cap}-day limit after delivery"
                    + (" (DPP 2.1)" if marketplace == "amazon" else "")
                    + "; name the law that requires it in retention.legal_basis",
                )
            )
    return found

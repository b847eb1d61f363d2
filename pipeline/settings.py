"""The deployment's settings file (`ordervault.toml`): databases, KMS, broker, logging.

Strict: unknown keys and wrong types are errors. Relative paths, including SQLite database
files, are resolved against the settings file's folder, so the file means the same thing
whatever the working directory.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pipeline.secrets import ResolveContext, Secret, SecretRef


class StrictModel(BaseModel):
    # validate_default: relative default paths ("var/root.key") must be resolved against the
    # settings file like written ones, not left relative to whatever the working directory is.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, validate_default=True)


def base_dir(info: ValidationInfo) -> Path:
    ctx = info.context
    return ctx.base_dir if isinstance(ctx, ResolveContext) else Path.cwd()


def resolve_path(value: str, info: ValidationInfo) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base_dir(info) / path).resolve())


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, *, allow_http_loopback: bool, allow_query: bool = True) -> str:
    """`url` if it is https:// (or http:// to a loopback address, when allowed).

    Credentials in the URL are refused: a secret is never inline. Reasons never quote the URL.
    """
    try:
        parts = urlsplit(url)
        hostname, _port = parts.hostname, parts.port
        # The clients (httpx) parse more strictly than urlsplit, e.g. a host of four octal
        # octets: refuse here what would only fail once a worker builds the client.
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise ValueError("not a URL") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "no credentials in the URL (a secret is never inline: use the secret's own key)"
        )
    if parts.query and not allow_query:
        raise ValueError("no query string in the URL")
    if parts.scheme == "https" and hostname:
        return url
    if parts.scheme == "http" and allow_http_loopback and is_loopback_host(hostname):
        return url
    if parts.scheme == "http":
        raise ValueError("plain http is allowed only to a loopback address")
    raise ValueError("expected an https:// URL")


# The user part of a URL's authority (greedy up to its last "@", since a password may hold an
# unencoded one), and a `password` query key, which libpq and redis-py both accept.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:@\s/?#]*):[^\s/?#]*@")
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#\s]*")
MASK = "***"


def mask_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`; the rest kept.

    For displaying a URL (`config check`) and as the last line of defence for error messages
    and log records, which must never carry a database or broker password.
    """
    text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    return _QUERY_PASSWORD.sub(rf"\1{MASK}", text)


def has_inline_password(url: str) -> bool:
    """Does `url` itself hold a (non-empty) password, in its user part or its query?"""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return False
    query = parse_qsl(parts.query, keep_blank_values=False)
    return bool(password) or any(key.lower() == "password" for key, _ in query)


def _resolve_db_url(value: str, info: ValidationInfo) -> str:
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        # ValueError: a port that is not a number. Neither message is quoted: the URL can
        # hold a password.
        raise ValueError(
            "not a database URL (expected sqlite:///... or postgresql+psycopg://...)"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError("only sqlite and postgresql databases are supported")
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError(
                "an SQLite database must be a file (the data must outlive the process)"
            )
        url = url.set(database=resolve_path(url.database, info))
    return url.render_as_string(hide_password=False)


def with_password(url: str, password: Secret | None) -> str:
    """`url` with the password from its secret reference, for connecting (never for display)."""
    if password is None:
        return url
    return make_url(url).set(password=password.reveal()).render_as_string(hide_password=False)


class UrlSettings(StrictModel):
    """A section with a `url` that may hold a password: its repr shows the URL masked."""

    url: str

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, mask_passwords(value) if name == "url" and isinstance(value, str) else value


class DatabaseSettings(UrlSettings):
    url: str = "sqlite:///var/data.db"
    # The server password, by reference (env:/file:), merged into the URL when connecting.
    password: SecretRef | None = None

    @property
    def connect_url(self) -> str:
        return with_password(self.url, self.password)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        return _resolve_db_url(value, info)


class KeystoreSettings(UrlSettings):
    url: str = "sqlite:///var/keys.db"
    # Unwrapped bucket keys kept in process memory; one root-key call then serves many orders.
    cache_size: int = Field(default=4096, ge=1, le=1_000_000)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        return _resolve_db_url(value, info)


class KmsSettings(StrictModel):
    provider: Literal["local", "aws-kms"] = "local"
    key_file: str = "var/root.key"
    key_id: str | None = None
    region: str | None = None
    # Only for tests and KMS-compatible endpoints on loopback.
    endpoint_url: str | None = None

    @field_validator("key_file")
    @classmethod
    def _key_file(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, info)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint(value, allow_http_loopback=True)

    @model_validator(mode="after")
    def _provider_fields(self) -> KmsSettings:
        if self.provider == "aws-kms" and not self.key_id:
            raise ValueError("provider aws-kms needs key_id (the KMS key ARN or alias)")
        return self


class BrokerSettings(UrlSettings):
    url: str = "inline"
    # The broker password, by reference (env:/file:), merged into the URL when connecting.
    password: SecretRef | None = None

    @property
    def connect_url(self) -> str:
        if self.password is None or self.url == "inline":
            return self.url
        parts = urlsplit(self.url)
        user = parts.username or ""
        host = parts.hostname or ""
        netloc = f"{quote(user, safe='')}:{quote(self.password.reveal(), safe='')}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value == "inline":
            return value
        expected = "expected inline, amqp://..., amqps://..., redis://... or rediss://..."
        if not value.startswith(("amqp://", "amqps://", "redis://", "rediss://")):
            raise ValueError(expected)
        try:
            parts = urlsplit(value)
            host, _port = parts.hostname, parts.port  # port: ValueError when not 0-65535
        except ValueError:
            raise ValueError(f"{expected}, with a host and a port number") from None
        if not host:
            raise ValueError(f"{expected}, with a host")
        return value


class OutboxSettings(StrictModel):
    # A claimed delivery is the claimer's for this long; then another worker may take it over.
    lease_s: float = Field(default=120.0, gt=0, le=3600)
    # A claimable row no message has claimed for this long is re-enqueued by the sweeper.
    lost_after_s: float = Field(default=60.0, gt=0, le=86400)
    # Failed attempts after which a delivery is dead (about 3 days with the 1-hour backoff cap).
    max_attempts: int = Field(default=80, ge=1, le=10_000)


class LoggingSettings(StrictModel):
    file: str | None = "var/ordervault.log"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("file")
    @classmethod
    def _file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, info)


class MetricsSettings(StrictModel):
    # Prometheus metrics are opt-in, and served only on this (loopback by default) address.
    enabled: bool = False
    address: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class AuditSettings(StrictModel):
    # Decrypts by one actor above this rate raise an alarm (DPP 2.6: unusual access volume).
    # A worker forwarding the outbox rows it leased is audited but not counted: its rate is the
    # delivery rate, which the outbox bounds (see pipeline/alarm.py).
    decrypt_alarm_per_minute: int = Field(default=1000, ge=1)


class EbayNotificationSettings(StrictModel):
    """eBay Marketplace Account Deletion: the endpoint eBay calls and its verification token."""

    endpoint_url: str
    verification_token: SecretRef
    # eBay Notification API getPublicKey, called with an application OAuth token minted from
    # the app id and cert id (client-credentials grant, renewed before it expires) ...
    public_key_url: str = "https://api.ebay.com/commerce/notification/v1/public_key"
    oauth_url: str = "https://api.ebay.com/identity/v1/oauth2/token"
    app_id: SecretRef | None = None
    cert_id: SecretRef | None = None
    # ... or a fixed token managed elsewhere (eBay's expire after about two hours).
    app_token: SecretRef | None = None

    @field_validator("endpoint_url", "public_key_url", "oauth_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        # The OAuth and key URLs receive the application's credentials and tokens.
        return check_endpoint(value, allow_http_loopback=True)

    @model_validator(mode="after")
    def _token_source(self) -> EbayNotificationSettings:
        if self.app_token is None and (self.app_id is None or self.cert_id is None):
            raise ValueError("give app_id and cert_id (tokens are minted and renewed) or app_token")
        return self


class Settings(StrictModel):
    clients_dir: str = "clients"
    # Sections default to an empty table, validated like a written one (paths resolved).
    database: DatabaseSettings = Field(default_factory=dict)  # type: ignore[assignment]
    keystore: KeystoreSettings = Field(default_factory=dict)  # type: ignore[assignment]
    kms: KmsSettings = Field(default_factory=dict)  # type: ignore[assignment]
    broker: BrokerSettings = Field(default_factory=dict)  # type: ignore[assignment]
    outbox: OutboxSettings = Field(default_factory=dict)  # type: ignore[assignment]
    logging: LoggingSettings = Field(default_factory=dict)  # type: ignore[assignment]
    audit: AuditSettings = Field(default_factory=dict)  # type: ignore[assignment]
    metrics: MetricsSettings = Field(default_factory=dict)  # type: ignore[assignment]
    ebay_notifications: EbayNotificationSettings | None = None

    @field_validator("clients_dir")
    @classmethod
    def _clients_dir(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, info)

    def inline_passwords(self) -> list[tuple[str, str]]:
        """(setting, advice) for each URL that holds its password inline.

        Accepted (local set-ups and the demo's RabbitMQ use guest:guest), but the rest of the
        configuration takes secrets only by reference, so `config check` warns about these.
        """
        found: list[tuple[str, str]] = []
        if has_inline_password(self.database.url):
            found.append(("database.url", 'move it to database.password = "env:NAME"'))
        if has_inline_password(self.keystore.url):
            # [keystore] has no password reference yet: the URL is the only place for it.
            found.append(
                (
                    "keystore.url",
                    "[keystore] takes no password reference yet: keep the file private",
                )
            )
        if has_inline_password(self.broker.url):
            found.append(("broker.url", 'move it to broker.password = "env:NAME"'))
        return found

    def problems(self) -> list[tuple[str, str]]:
        """Rules across fields, as (field, reason) pairs; empty when all hold."""
        found: list[tuple[str, str]] = []
        if make_url(self.keystore.url) == make_url(self.database.url):
            found.append(
                (
                    "keystore.url",
                    "must name a different database from database.url "
                    "(a data backup must never hold the keys that open it)",
                )
            )
        return found

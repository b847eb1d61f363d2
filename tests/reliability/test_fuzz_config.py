"""Fuzzing the config loader: settings and client files, valid and broken.

The files' shapes are written as Swagger 2.0 definitions so the same converter that fuzzes
Amazon's payloads builds valid files and files broken in one place (unknown keys, wrong types,
inline secrets, bad URLs, out-of-range retention, odd text). Every file set either loads, and
then works where it is used (a connector's settings, the URLs the runtime connects to), or
raises `ConfigError` whose every line is `file: field: reason`; never another exception, and
never with an inline secret's value in the message.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.clients import ORDER_PII_PATHS
from pipeline.config import Config, ConfigError, load_config
from pipeline.pull import amazon_settings, ebay_settings
from tests.configs import ENVIRON, write_config
from tests.reliability.schema_strategies import CANARY, Broken, SchemaStrategies

ENV = {**ENVIRON, "DB_PASSWORD": "db-pw-synthetic", "BROKER_PASSWORD": "mq-pw-synthetic"}
ENV.update(EBAY_VERIFICATION_TOKEN="v" * 40, EBAY_APP_TOKEN="v^1.1#app-synthetic")
# A file reference is relative to the file that holds it: the settings file sits beside
# secrets/, client files one folder below.
ENV_REFS = [f"env:{name}" for name in ENV]
CLIENT_SECRET_REFS = [*ENV_REFS, "file:../secrets/lwa_client_secret"]
SETTINGS_SECRET_REFS = [*ENV_REFS, "file:secrets/lwa_client_secret"]


def _s(**keywords: Any) -> dict[str, Any]:
    return {"type": "string", **keywords}


def _int(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _number(low: float, high: float) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


def _tables(item: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(item), "maxItems": 1}


SETTINGS_FILE: dict[str, Any] = {
    "definitions": {
        "Settings": _object(
            {
                "clients_dir": _s(enum=["clients"]),
                "database": _ref("Database"),
                "keystore": _ref("Keystore"),
                "kms": _ref("Kms"),
                "broker": _ref("Broker"),
                "outbox": _ref("Outbox"),
                "logging": _ref("Logging"),
                "metrics": _ref("Metrics"),
                "audit": _ref("Audit"),
                "ebay_notifications": _ref("EbayNotifications"),
            },
            "database",
            "keystore",
            "kms",
            "broker",
        ),
        "Database": _object({"url": _s(), "password": _s()}, "url"),
        "Keystore": _object({"url": _s(), "cache_size": _int(1, 1_000_000)}, "url"),
        "Kms": _object({"provider": _s(enum=["local"]), "key_file": _s()}),
        "Broker": _object({"url": _s(), "password": _s()}, "url"),
        "Outbox": _object(
            {
                "lease_s": _number(0.5, 3600),
                "lost_after_s": _number(0.5, 86400),
                "max_attempts": _int(1, 10_000),
            }
        ),
        "Logging": _object({"file": _s(), "level": _s(enum=["DEBUG", "INFO", "WARNING", "ERROR"])}),
        "Metrics": _object(
            {"enabled": {"type": "boolean"}, "address": _s(), "port": _int(1, 65535)}
        ),
        "Audit": _object({"decrypt_alarm_per_minute": _int(1, 10**6)}),
        "EbayNotifications": _object(
            {
                "endpoint_url": _s(),
                "verification_token": _s(),
                "app_token": _s(),
                "oauth_url": _s(),
                "public_key_url": _s(),
            },
            "endpoint_url",
            "verification_token",
            "app_token",
        ),
    }
}
_ACCOUNT_SECRETS = ("refresh_token", "lwa_client_id", "lwa_client_secret")
_EBAY_SECRETS = ("token", "app_id", "dev_id", "cert_id")
CLIENT_FILE: dict[str, Any] = {
    "definitions": {
        "Client": _object(
            {
                "id": _s(enum=["acme"]),
                "name": _s(minLength=1, maxLength=200),
                "retention": _object(
                    {
                        "days_after_delivery": _int(1, 30),
                        "max_undelivered_days": _int(1, 3650),
                    }
                ),
                "pii": _object({"drop": {"type": "array", "items": _s(), "maxItems": 2}}),
                "schedule": _object({"pull_every_minutes": _int(1, 1440)}),
                "amazon": _tables("Amazon"),
                "ebay": _tables("Ebay"),
            },
            "id",
            "name",
        ),
        "Amazon": _object(
            {
                "account": _s(),
                "region": _s(enum=["na", "eu", "fe"]),
                "marketplace_ids": {"type": "array", "items": _s(), "minItems": 1, "maxItems": 2},
                "orders_api": _s(enum=["2026-01-01", "v0"]),
                **{name: _s() for name in _ACCOUNT_SECRETS},
                "endpoint": _s(),
                "lwa_endpoint": _s(),
            },
            "account",
            "region",
            "marketplace_ids",
            *_ACCOUNT_SECRETS,
        ),
        "Ebay": _object(
            {
                "account": _s(),
                "site_id": _int(0, 500),
                **{name: _s() for name in _EBAY_SECRETS},
                "endpoint": _s(),
                "daily_call_budget": _int(1, 100_000),
            },
            "account",
            "site_id",
            *_EBAY_SECRETS,
        ),
        "Webhook": _object(
            {
                "name": _s(),
                "type": _s(enum=["webhook"]),
                "url": _s(),
                "secret": _s(),
                "batch_size": _int(1, 500),
                "timeout_s": _number(0.5, 120),
            },
            "name",
            "type",
            "url",
            "secret",
        ),
        "Sftp": _object(
            {
                "name": _s(),
                "type": _s(enum=["sftp"]),
                "host": _s(enum=["sftp.acme.example"]),
                "port": _int(1, 65535),
                "username": _s(enum=["ordervault"]),
                "private_key": _s(),
                "host_key": _s(),
                "format": _s(enum=["jsonl", "csv"]),
            },
            "name",
            "type",
            "host",
            "username",
            "private_key",
            "host_key",
        ),
        "Directory": _object(
            {"name": _s(), "type": _s(enum=["directory"]), "path": _s(enum=["outbox"])},
            "name",
            "type",
            "path",
        ),
    }
}
# Every secret is a canary-bearing field: whatever a mutation writes there is an inline secret.
_SECRETS = frozenset(
    {"password", "verification_token", "app_token", "secret", "private_key"}
    | set(_ACCOUNT_SECRETS)
    | set(_EBAY_SECRETS)
)
_KINDS = dict.fromkeys(_SECRETS, "secret") | {
    "Database.url": "db-url",
    "Keystore.url": "db-url",
    "Broker.url": "broker-url",
    "url": "url",
    "endpoint": "url",
    "lwa_endpoint": "url",
    "endpoint_url": "url",
    "oauth_url": "url",
    "public_key_url": "url",
    "account": "name",
    "name": "name",
    "marketplace_ids": "marketplace-id",
    "days_after_delivery": "retention-days",
    "drop": "pii-path",
}
_VALID: dict[str, st.SearchStrategy[Any]] = {
    "Database.url": st.sampled_from(
        [
            "sqlite:///var/data.db",
            "postgresql+psycopg://ordervault@db.internal:5432/ordervault",
            "postgresql://ordervault@127.0.0.1/ordervault",
        ]
    ),
    "Keystore.url": st.sampled_from(["sqlite:///var/keys.db", "postgresql://ov@127.0.0.1/keys"]),
    "Broker.url": st.sampled_from(["inline", "amqp://ordervault@rabbitmq:5672/", "redis://r/0"]),
    "Webhook.url": st.sampled_from(["https://erp.acme.example/orders", "https://10.0.0.1/h?x=1"]),
    "account": st.sampled_from(["acme-eu", "acme_us", "a"]),
    "name": st.sampled_from(["erp", "archive-1"]),
    "Client.name": st.text(min_size=1, max_size=40).filter(str.strip),
    "marketplace_ids": st.sampled_from(["A1PA6795UKMFR9", "ATVPDKIKX0DER", "A1VC38T7YXB528"]),
    "endpoint": st.sampled_from(["https://api.example.com/ws/api.dll", "http://127.0.0.1:8702"]),
    "lwa_endpoint": st.sampled_from(["https://api.amazon.com/auth/o2/token", "http://[::1]:9/t"]),
    "endpoint_url": st.just("https://ordervault.example/ebay/account-deletion"),
    "oauth_url": st.just("https://api.ebay.com/identity/v1/oauth2/token"),
    "public_key_url": st.just("http://127.0.0.1:8703/commerce/notification/v1/public_key"),
    "key_file": st.sampled_from(["var/root.key", "/srv/ordervault/root.key"]),
    "file": st.sampled_from(["var/ordervault.log", "log/ov.log"]),
    "address": st.sampled_from(["127.0.0.1", "::1"]),
    "drop": st.sampled_from(sorted(ORDER_PII_PATHS)),
    "host_key": st.just("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJfZ3YQ0ZMrXa5mKzYfD1y2G8uN0g0vmH0n"),
}
BROKEN_BY_KIND: dict[str, list[Any]] = {
    "secret": [
        "hunter2-{canary}",
        "{canary}",
        "env:",
        "env:ORDERVAULT_NOT_SET",
        "ENV:ACME_WEBHOOK_SECRET",
        "file:/nonexistent/ordervault/secret",
        "file:..",
        "file:../secrets/lwa_client_secret\x00{canary}",
        "env:ACME_WEBHOOK_SECRET {canary}",
    ],
    "url": [
        "http://erp.acme.example/orders",
        "ftp://erp.acme.example/orders",
        "https://ordervault:{canary}@erp.acme.example/orders",
        "https://api.example.com/ws/api.dll?session={canary}",
        "https://[::1",
        "https://",
        "http://localhost:99999/x",
        "not a url {canary}",
        "javascript:alert(1)",
    ],
    "db-url": [
        "mysql://ordervault@db/ordervault",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://ordervault:{canary}@db:notaport/ordervault",
        "postgresql://ordervault:{canary}@db:99999999999/ordervault",
        "not a url {canary}",
        "",
    ],
    "broker-url": [
        "amqp://",
        "amqp://ordervault:{canary}@rabbitmq:99999/",
        "redis://:{canary}@redis:port/0",
        "http://rabbitmq:5672/",
        "inline ",
    ],
    "name": ["Acme EU", "", "-acme", "a" * 65, "acme/../eu"],
    "marketplace-id": ["a1pa6795ukmfr9", "A1", "", "A1PA6795UKMFR9 "],
    "retention-days": [0, 31, 90, 91, 3651, -30],
    "pii-path": ["buyer", "buyer.email.local", "client_id", ""],
}


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _config_strategies(document: dict[str, Any], secret_refs: list[str]) -> SchemaStrategies:
    return SchemaStrategies(
        document,
        pii=dict.fromkeys(document["definitions"], _SECRETS),
        kinds=_KINDS,
        overrides={**dict.fromkeys(_SECRETS, st.sampled_from(secret_refs)), **_VALID},
        broken_kinds=BROKEN_BY_KIND,
        legal=_utf8,  # a TOML file is UTF-8 text
        max_depth=4,
        max_items=1,
    )


SETTINGS = _config_strategies(SETTINGS_FILE, SETTINGS_SECRET_REFS)
CLIENT = _config_strategies(CLIENT_FILE, CLIENT_SECRET_REFS)
DESTINATIONS = ("Webhook", "Sftp", "Directory")


# -- TOML ---------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    escaped = "".join(
        "\\" + char
        if char in '"\\'
        else f"\\u{ord(char):04x}"
        if ord(char) < 0x20 or ord(char) == 0x7F
        else char
        for char in text
    )
    return f'"{escaped}"'


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item) for item in value if item is not None) + "]"
    if isinstance(value, dict):
        pairs = (f"{_key(k)} = {_inline(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(type(value))


def to_toml(document: dict[str, Any]) -> str:
    """A TOML file for `document`: tables and arrays of tables as sections, None left out."""
    lines: list[str] = []
    sections: list[tuple[str, dict[str, Any], bool]] = []
    for key, value in document.items():
        if value is None:
            continue
        if isinstance(value, dict):
            sections.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            sections += [(key, item, True) for item in value]
        else:
            lines.append(f"{_key(key)} = {_inline(value)}")
    for key, table, many in sections:
        lines.append(f"[[{_key(key)}]]" if many else f"[{_key(key)}]")
        lines += [f"{_key(k)} = {_inline(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


# -- strategies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Files:
    """A settings file and a client file (as documents), and what was broken in them."""

    settings: Any
    client: Any
    damage: str

    def __repr__(self) -> str:  # hypothesis prints it: keep huge values short
        return (
            f"Files(damage={self.damage:.300}, settings={self.settings!r:.600}, "
            f"client={self.client!r:.600})"
        )


def _unwrap(made: Any) -> Any:
    return made.value if isinstance(made, Broken) else made


@st.composite
def client_files(draw: st.DrawFn, damaged: bool) -> tuple[Any, str]:
    """A client file: the client, its accounts, one destination of each kind at most."""
    kinds = draw(st.lists(st.sampled_from(DESTINATIONS), unique=True, max_size=2))
    target = draw(st.sampled_from(["Client", *kinds])) if damaged else None
    parts = {
        definition: draw(
            CLIENT.broken(definition) if definition == target else CLIENT.valid(definition)
        )
        for definition in ("Client", *kinds)
    }
    client = _unwrap(parts["Client"])
    destinations = []
    for index, definition in enumerate(kinds):
        value = _unwrap(parts[definition])
        if isinstance(value, dict) and definition != target:
            value["name"] = f"dest-{index}"  # names are unique within a client
        destinations.append(value)
    if isinstance(client, dict) and destinations:
        client["destinations"] = destinations
    return client, repr(parts[target]) if target else ""


@st.composite
def file_sets(draw: st.DrawFn, broken: bool) -> Files:
    """Both files valid, or one of them broken in one place."""
    where = draw(st.sampled_from(["settings", "client"])) if broken else None
    made = draw(SETTINGS.broken("Settings") if where == "settings" else SETTINGS.valid("Settings"))
    client, damage = draw(client_files(damaged=where == "client"))
    if where == "settings":
        damage = repr(made)
    return Files(_unwrap(made), client, damage or "none")


# -- the property -------------------------------------------------------------------------------

_LINE = re.compile(r"^  (?P<file>/[^:]+\.toml): (?P<field>[^:]+): (?P<reason>.+)$")


def _load(root: Path, files: Files) -> Config | ConfigError:
    settings_text = to_toml(files.settings) if isinstance(files.settings, dict) else "x = 1\n"
    client_text = to_toml(files.client) if isinstance(files.client, dict) else "x = 1\n"
    path = write_config(root, {"acme": client_text}, settings=settings_text)
    try:
        return load_config(path, environ=ENV)
    except ConfigError as error:
        return error


def _check_error(root: Path, error: ConfigError, inline: set[str]) -> None:
    text = str(error)
    header, *lines = text.splitlines()
    assert header == f"{len(error.problems)} configuration problem(s):"
    assert len(lines) == len(error.problems) > 0
    files = {str(root / "ordervault.toml"), str(root / "clients" / "acme.toml")}
    for line, problem in zip(lines, error.problems, strict=True):
        match = _LINE.match(line)
        assert match, line
        assert problem.file in files
        assert problem.field
        assert problem.reason.strip()
    assert CANARY not in text, "an inline secret is quoted in a config error"
    for secret in inline:
        assert secret not in text


def _check_usable(config: Config) -> None:
    """What loads must work where it is used, not fail later in a worker."""
    config.settings.database.connect_url  # noqa: B018
    config.settings.broker.connect_url  # noqa: B018
    for client in config.clients.values():
        for amazon in client.amazon:
            amazon_settings(client, amazon)
        for ebay in client.ebay:
            ebay_settings(client, ebay)


def _inline_secrets(document: Any) -> set[str]:
    """Values written into secret fields that are not references (whole or in part)."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if key in _SECRETS and isinstance(value, str) and CANARY in value:
                found.add(value[value.index(CANARY) : value.index(CANARY) + len(CANARY) + 8])
            found |= _inline_secrets(value)
    elif isinstance(document, list):
        for item in document:
            found |= _inline_secrets(item)
    return found


FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[Path]:
    return (tmp_path / f"example-{n}" for n in itertools.count())


@FUZZ
@given(files=file_sets(broken=False))
def test_valid_files_load_and_work_where_they_are_used(
    folders: Iterator[Path], files: Files
) -> None:
    loaded = _load(next(folders), files)
    assert isinstance(loaded, Config), loaded
    _check_usable(loaded)


@FUZZ
@given(files=file_sets(broken=True))
def test_broken_files_load_or_raise_config_error_naming_file_and_field(
    folders: Iterator[Path], files: Files
) -> None:
    root = next(folders)
    loaded = _load(root, files)
    if isinstance(loaded, ConfigError):
        _check_error(root, loaded, _inline_secrets(files.settings) | _inline_secrets(files.client))
    else:
        _check_usable(loaded)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(0, 100),
    noise=st.binary(max_size=16),
    client_file=client_files(damaged=False),
)
def test_a_cut_or_garbled_file_is_a_config_error(
    folders: Iterator[Path], cut: int, noise: bytes, client_file: tuple[Any, str]
) -> None:
    root = next(folders)
    text = to_toml(client_file[0]).encode()
    path = write_config(root, {"acme": ""})
    (root / "clients" / "acme.toml").write_bytes(text[: len(text) * cut // 100] + noise)
    try:
        config = load_config(path, environ=ENV)
    except ConfigError as error:
        _check_error(root, error, set())
        return
    _check_usable(config)


@pytest.mark.parametrize(
    "text",
    [b'id = "acme"\nname = "\xff\xfe"\n', b'\xef\xbb\xbfid = "acme"\n', b"\x00" * 8],
)
def test_a_file_that_is_not_utf8_toml_is_a_config_error_naming_the_file(
    tmp_path: Path, text: bytes
) -> None:
    path = write_config(tmp_path, {"acme": ""})
    (tmp_path / "clients" / "acme.toml").write_bytes(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV)
    (problem,) = raised.value.problems
    assert (problem.file, problem.field) == (str(tmp_path / "clients" / "acme.toml"), "(file)")

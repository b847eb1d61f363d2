"""The Docker deployment, checked without a Docker engine: compose file, Dockerfile, configs."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import load_config

DOCKER = Path(__file__).resolve().parents[2] / "docker"
ROOT = DOCKER.parent
APP_SERVICES = ("migrate", "worker", "scheduler", "serve")
SECRET_NAME = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)
# user:password@ in a URL
URL_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Named volumes and bind mounts of a service: source -> target."""
    found = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            source, target = entry.split(":")[:2]
        else:
            source, target = entry["source"], entry["target"]
        found[source] = target
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_the_services_are_all_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"postgres", "rabbitmq", *APP_SERVICES}
    assert services["migrate"]["command"][-1].strip().endswith("ordervault db upgrade")
    assert services["migrate"]["restart"] == "no"
    assert services["worker"]["command"][0] == "worker"
    assert services["worker"]["deploy"]["replicas"] >= 1
    assert services["scheduler"]["command"] == ["scheduler"]
    assert services["scheduler"]["deploy"]["replicas"] == 1
    assert services["serve"]["command"] == ["serve"]


def test_workers_and_scheduler_start_after_the_migration_completed(
    compose: dict[str, Any],
) -> None:
    for name in ("worker", "scheduler", "serve"):
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert compose["services"]["migrate"]["depends_on"]["postgres"]["condition"] == (
        "service_healthy"
    )


def test_the_key_store_has_its_own_volume_never_mounted_into_postgres(
    compose: dict[str, Any],
) -> None:
    volumes = set(compose["volumes"])
    assert {"pgdata", "keys", "rootkey"} <= volumes
    services = compose["services"]
    postgres = mounts(services["postgres"])
    assert postgres == {"pgdata": "/var/lib/postgresql/data"}
    settings = tomllib.loads((DOCKER / "ordervault.toml").read_text())
    keystore_path = settings["keystore"]["url"].removeprefix("sqlite:///")
    for name in APP_SERVICES:
        app = mounts(services[name])
        assert "pgdata" not in app, name
        assert keystore_path.startswith(app["keys"] + "/"), name
        assert settings["kms"]["key_file"].startswith(app["rootkey"] + "/"), name
        assert app["keys"] != app["rootkey"]


def test_no_secret_value_is_inline_in_compose(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} must name a file"
                assert value.startswith("/run/secrets/"), f"{name}: {key}"
            assert not URL_PASSWORD.search(value), f"{name}: {key} has a password in a URL"
        for secret in service.get("secrets", []):
            source = secret if isinstance(secret, str) else secret["source"]
            assert source in compose["secrets"], f"{name}: undeclared secret {source}"
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, f"secret {name} must come from a file"
        assert secret["file"].startswith("./secrets/")
    assert "POSTGRES_PASSWORD" not in environment(compose["services"]["postgres"])


def test_every_secret_the_configs_name_is_mounted(compose: dict[str, Any]) -> None:
    mounted = {
        f"/run/secrets/{s}" for s in compose["x-ordervault"]["secrets"] if isinstance(s, str)
    }
    for file in [DOCKER / "ordervault.toml", *sorted((DOCKER / "clients").glob("*.toml"))]:
        text = file.read_text()
        assert not URL_PASSWORD.search(text), file.name
        for reference in re.findall(r'"file:([^"]+)"', text):
            assert reference in mounted, f"{file.name}: {reference} is not a mounted secret"


def test_config_files_hold_only_secret_references() -> None:
    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if (
                    SECRET_NAME.search(key)
                    and key not in ("key_file", "key_id")
                    and isinstance(item, str)
                ):
                    assert item.startswith(("file:", "env:")), f"{where}.{key} is inline"
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")

    for file in [DOCKER / "ordervault.toml", *sorted((DOCKER / "clients").glob("*.toml"))]:
        walk(tomllib.loads(file.read_text()), file.name)


def _copy_config(tmp_path: Path) -> Path:
    """The docker config under tmp_path, its absolute paths moved there, its secrets created."""
    root = tmp_path / "etc"
    shutil.copytree(DOCKER / "clients", root / "clients")
    shutil.copy(DOCKER / "ordervault.toml", root / "ordervault.toml")
    for file in [root / "ordervault.toml", *(root / "clients").glob("*.toml")]:
        text = file.read_text()
        for reference in re.findall(r'"file:/run/secrets/([^"]+)"', text):
            secret = tmp_path / "run" / "secrets" / reference
            secret.parent.mkdir(parents=True, exist_ok=True)
            secret.write_text(f"synthetic-{reference}\n")
        text = text.replace("/run/secrets/", f"{tmp_path}/run/secrets/")
        text = text.replace("/var/lib/ordervault/", f"{tmp_path}/var/")
        file.write_text(text)
    return root / "ordervault.toml"


def test_the_example_config_loads(tmp_path: Path) -> None:
    config = load_config(_copy_config(tmp_path), environ={})
    assert config.settings.database.url.startswith("postgresql+psycopg://ordervault@postgres")
    assert config.settings.broker.url.startswith("amqp://")
    assert config.settings.keystore.url.endswith("/var/keys/keys.db")
    example = config.client("example")
    assert example.amazon[0].refresh_token.reveal() == "synthetic-example_spapi_refresh_token"
    assert example.destinations[0].name == "erp"


def test_database_and_broker_passwords_are_file_references(tmp_path: Path) -> None:
    config = load_config(_copy_config(tmp_path), environ={})
    database, broker = config.settings.database, config.settings.broker
    assert database.password is not None
    assert broker.password is not None
    assert database.password.reveal() == "synthetic-postgres_password"
    assert broker.password.reveal() == "synthetic-rabbitmq_password"
    # Merged into the URL only for connecting; the configured URL holds no password.
    assert "synthetic-postgres_password" not in database.url
    assert ":synthetic-postgres_password@postgres" in database.connect_url
    assert ":synthetic-rabbitmq_password@" in broker.connect_url


def _final_stage(dockerfile: str) -> list[str]:
    lines = [line.strip() for line in dockerfile.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert len(starts) >= 2, "multi-stage: a builder and a runtime stage"
    return lines[starts[-1] :]


def test_the_image_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    final = _final_stage(dockerfile)
    assert final[0].startswith("FROM python:3.11-slim")
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    checks = [line for line in final if line.upper().startswith("HEALTHCHECK")]
    assert len(checks) == 1
    assert "NONE" not in checks[0].upper()
    assert "ordervault" in dockerfile[dockerfile.index("HEALTHCHECK") :].split("\n\n")[0]
    assert "COPY --from=builder" in "\n".join(final)


def test_the_image_bakes_in_no_secrets() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        words = line.split()
        if words and words[0].upper() in ("ENV", "ARG"):
            assert not SECRET_NAME.search(line), line
        if words and words[0].upper() in ("COPY", "ADD"):
            assert not re.search(r"secrets|\.key\b|\.toml\b(?<!pyproject\.toml)", line), line
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for pattern in (".git", ".venv", "var", "docker/secrets", "**/*.key", "**/*.db"):
        assert pattern in ignored, pattern

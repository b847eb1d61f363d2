"""The endpoint behind a real uvicorn on loopback, and the `ordervault serve` command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

import pipeline.cli.serve_cmd  # noqa: F401 - registers `serve` until pipeline.cli imports it
import storage
from crypto import init_local_root_key
from pipeline.cli import app as cli
from pipeline.config import load_config
from pipeline.http.app import EBAY_ACCOUNT_DELETION_PATH
from pipeline.http.asgi import Router
from tests.configs import ENVIRON, SETTINGS, write_config
from tests.fixtures.runtime import Deployment
from tests.http.conftest import EIAS, USER_ID, USERNAME, Service
from tests.http.ebay_fakes import SigningKey, notification
from tests.retention.helpers import readable

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0


def _wait_until(ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start within {START_TIMEOUT_S} s")
        time.sleep(0.02)


@contextmanager
def uvicorn_on_loopback(app: Router) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: server.started, "uvicorn")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_account_deletion_through_uvicorn(
    service: Service, orders: dict[str, int], deployment: Deployment, signing_key: SigningKey
) -> None:
    body = notification(
        "5d1c2f0e-7b43-4c8e-9e5a-0b2f7d6c1a93", user_id=USER_ID, username=USERNAME, eias_token=EIAS
    )
    with uvicorn_on_loopback(service.app()) as base_url, httpx.Client(base_url=base_url) as http:
        assert http.get("/healthz").status_code == 200
        challenge = http.get(EBAY_ACCOUNT_DELETION_PATH, params={"challenge_code": "abc"})
        assert set(challenge.json()) == {"challengeResponse"}
        forged = http.post(
            EBAY_ACCOUNT_DELETION_PATH,
            content=body,
            headers={"X-EBAY-SIGNATURE": SigningKey(signing_key.kid).sign(body)},
        )
        assert forged.status_code == 412
        signed = http.post(
            EBAY_ACCOUNT_DELETION_PATH,
            content=body,
            headers={
                "X-EBAY-SIGNATURE": signing_key.sign(body),
                "Content-Type": "application/json",
            },
        )
        assert signed.status_code == 204
    service.drain()
    for name, order_id in orders.items():
        assert readable(deployment, order_id) == (not name.startswith("user_"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_command_answers_health_then_stops_on_sigterm(tmp_path: Path) -> None:
    settings_file = write_config(tmp_path)
    config = load_config(settings_file, environ=ENVIRON)
    storage.upgrade(config.settings.database.url, keystore=False)
    storage.upgrade(config.settings.keystore.url, keystore=True)
    init_local_root_key(config.settings.kms.key_file)
    env = {**os.environ, **ENVIRON}
    port = _free_port()
    code = "import pipeline.cli.serve_cmd; from pipeline.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--config", str(settings_file), "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                return httpx.get(f"{url}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        _wait_until(answers, "ordervault serve")
        # No [ebay_notifications] section: the path does not exist.
        assert httpx.get(f"{url}{EBAY_ACCOUNT_DELETION_PATH}").status_code == 404
        assert httpx.get(f"{url}/metrics").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_refuses_ebay_notifications_without_an_app_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**ENVIRON, "EBAY_VERIFICATION_TOKEN": "x" * 40}.items():
        monkeypatch.setenv(name, value)
    settings = SETTINGS + (
        "[ebay_notifications]\n"
        'endpoint_url = "https://ordervault.example/ebay/account-deletion"\n'
        'verification_token = "env:EBAY_VERIFICATION_TOKEN"\n'
    )
    settings_file = write_config(tmp_path, settings=settings)
    result = CliRunner().invoke(cli, ["--config", str(settings_file), "serve"])
    assert result.exit_code == 2
    assert "app_token" in result.output + result.stderr

"""Fault injection for the reliability tests: what breaks, and how each test reports its tally.

* `Tally`: orders in, orders delivered, repeats; printed as one line and collected for the
  table `tests/reliability/conftest.py` prints at the end of the run.
* `KmsServer`: moto's AWS KMS on a loopback port.
* `TcpProxy`: a loopback TCP proxy that can be cut (connections reset, new ones refused) and
  restored on the same port: an endpoint that goes away and comes back.
* `RabbitNode`: a RabbitMQ node the test starts itself, on ports of its own, and can SIGKILL,
  stop, wipe and restart without touching the machine's broker.
* `BackendKiller` and `StatementKiller`: `pg_terminate_backend` on PostgreSQL backends inside
  a transaction, at random or at a chosen statement.
* Worker processes (`ordervault worker`) and bulk seeding of synthetic orders.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import sqlalchemy as sa
from moto.core.request import Request as MotoRequest
from moto.kms.responses import KmsResponse
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Response as WerkzeugResponse

from connectors.order import Buyer, Order
from pipeline.clients import ClientConfig
from pipeline.ingest import Ingestor
from pipeline.receiver import WebhookReceiver
from pipeline.runtime import Runtime
from storage import outbox
from tests.configs import ACME, ENVIRON
from tests.factories import make_order
from tests.fixtures.sshd import free_port

# --- the tally -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one fault test saw. `repeats`: orders received again under a key already seen."""

    fault: str
    orders_in: int = 0
    delivered: int = 0
    repeats: int = 0
    detail: str = ""
    timings_s: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.timings_s.items())
        parts = [
            f"[{self.fault}] orders in {self.orders_in}",
            f"delivered {self.delivered}",
            f"repeats {self.repeats}",
        ]
        if timings:
            parts.append(timings)
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings_s[name] = time.monotonic() - started


#: Every tally of this run, by test node id, for the terminal summary.
TALLIES: dict[str, Tally] = {}


# --- a TCP proxy that can be cut ---------------------------------------------------------------


class TcpProxy:
    """Forward 127.0.0.1:<port> to `target`; `cut()` drops everything, `restore()` comes back.

    While cut, the port is closed: connecting is refused, as with a stopped server.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections = 0

    @property
    def up(self) -> bool:
        return self._listener is not None

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener, self._stop = listener, threading.Event()
        self._thread = threading.Thread(
            target=self._accept, args=(listener, self._stop), name="tcp-proxy", daemon=True
        )
        self._thread.start()
        return self

    def cut(self) -> None:
        """Close the port and reset every connection through it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            live, self._live = self._live, set()
        for connection in live:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: the peer sees a reset, not an orderly end of stream.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                connection.close()

    def restore(self) -> None:
        if not self.up:
            self.start()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._live.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._live.discard(source)
                self._live.discard(sink)


# --- AWS KMS on loopback ----------------------------------------------------------------------


class _MotoRequest(MotoRequest):
    from_wsgi_server = True  # what moto's own server marks its requests with


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


class KmsServer:
    """moto's KMS on a loopback port, in a thread.

    `moto.server.ThreadedMotoServer` needs Flask (moto[server]), which the dev dependencies do
    not include; KMS needs none of it: one WSGI app hands each request to moto's KMS responses.
    Keys live in moto's in-process backend, so they outlive the server's connections.
    """

    def __init__(self) -> None:
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @staticmethod
    def _app(environ: dict[str, Any], start_response: Any) -> Any:
        request = _MotoRequest(environ)
        status, headers, body = KmsResponse.dispatch(request, request.url, request.headers)
        return WerkzeugResponse(body, status=status, headers=dict(headers))(environ, start_response)

    def __enter__(self) -> KmsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# --- a RabbitMQ node of the test's own --------------------------------------------------------


def _rabbitmq_script(name: str) -> Path | None:
    """The real start script (ORDERVAULT_TEST_RABBITMQ_SERVER overrides it): Debian's /usr/sbin
    wrappers switch to the rabbitmq user as root, and that user cannot write the test's tmp."""
    override = os.environ.get(f"ORDERVAULT_TEST_{name.upper().replace('-', '_')}")
    candidates = [override] if override else [f"/usr/lib/rabbitmq/bin/{name}", shutil.which(name)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


START_TIMEOUT_S = 90.0


class RabbitNode:
    """A RabbitMQ node run as the current user from `folder`, on free loopback ports.

    Its own node name, data (mnesia) and log folders, erlang cookie (in its own HOME), config
    file and an empty enabled-plugins file, so no management listener clashes with anything.
    `kill()` is a crash (SIGKILL to the whole process group); `wipe()` loses its data, as a
    broker replaced by a fresh one would.
    """

    def __init__(self, folder: Path) -> None:
        server = _rabbitmq_script("rabbitmq-server")
        if server is None:
            raise FileNotFoundError(
                "rabbitmq-server is not installed (or not where "
                "ORDERVAULT_TEST_RABBITMQ_SERVER says)"
            )
        self.server = server
        self.ctl = server.with_name("rabbitmqctl")
        self.folder = folder
        self.name = f"ov-fault-{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.log_file = folder / "node.out"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        home = folder / "home"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (folder / "enabled_plugins").write_text("[].\n")
        (folder / "rabbitmq-env.conf").write_text("")
        (folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "collect_statistics_interval = 60000\n"
            "disk_free_limit.absolute = 1MB\n"
        )
        self.env = {
            **os.environ,
            "HOME": str(home),  # the erlang cookie is made here, readable by this user only
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_PID_FILE": str(folder / "node.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Start the node and wait until it accepts AMQP connections; returns seconds taken."""
        started = time.monotonic()
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.server)],
                env=self.env,
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group, so kill() gets every child
            )
        self.starts += 1
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node exited at start: {self.log_tail()}")
            if self._amqp_ready():
                return time.monotonic() - started
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"RabbitMQ node not ready within {timeout_s:g} s: {self.log_tail()}")

    def _amqp_ready(self) -> bool:
        try:
            connection = pika.BlockingConnection(
                pika.URLParameters(self.url + "?connection_attempts=1&socket_timeout=2")
            )
        except pika.exceptions.AMQPError:
            return False
        connection.close()
        return True

    def kill(self) -> None:
        """SIGKILL the node and everything it started: a crash, not a shutdown."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """Stop cleanly with rabbitmqctl; kill if that does not work."""
        if self.process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(
                [str(self.ctl), "-n", self.name, "stop"],
                env=self.env,
                cwd=self.folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self.kill()

    def wipe(self) -> None:
        """Delete the node's data (queues and messages); the node must be down."""
        assert self.process is None, "wipe a stopped node only"
        shutil.rmtree(self.folder / "mnesia", ignore_errors=True)

    def log_tail(self, lines: int = 5) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])


# --- PostgreSQL backends killed mid-transaction ------------------------------------------------


class BackendKiller(threading.Thread):
    """Terminate client backends of `databases` every `interval_s`, up to `max_kills` times.

    Only backends inside a transaction (running a statement, or idle in one) are picked, so
    each kill lands mid-transaction; `kills` counts them.
    """

    def __init__(
        self,
        admin_url: str,
        databases: Sequence[str],
        *,
        interval_s: float,
        max_kills: int,
        exclude_pids: Sequence[int] = (),
    ) -> None:
        super().__init__(name="backend-killer", daemon=True)
        self._engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self._databases = list(databases)
        self._interval_s = interval_s
        self._max_kills = max_kills
        self._exclude = list(exclude_pids) or [0]
        self._halt = threading.Event()
        self.kills = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        query = sa.text(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = ANY(:databases) AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND xact_start IS NOT NULL "
            "AND pid <> ALL(:exclude)"
        )
        try:
            with self._engine.connect() as connection:
                while not self._halt.is_set() and self.kills < self._max_kills:
                    killed = connection.execute(
                        query, {"databases": self._databases, "exclude": self._exclude}
                    ).scalar_one()
                    self.kills += int(killed)
                    self._halt.wait(self._interval_s if killed else 0.01)
        except Exception as exc:  # noqa: BLE001 (the test reports it and fails)
            self.error = exc
        finally:
            self._engine.dispose()

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=10)


class StatementKiller:
    """Terminate the backend running a statement that `matches` picks, the first `times` times:
    just before the statement runs, or (`after=True`) just after it ran, before the transaction
    goes on. Installed on an engine's cursor events, so the kill lands at a chosen point of a
    transaction, which must then be rolled back whole.
    """

    def __init__(
        self,
        engine: sa.Engine,
        admin_url: str,
        matches: Callable[[str], bool],
        *,
        times: int,
        after: bool = False,
    ) -> None:
        self._engine = engine
        self._event = "after_cursor_execute" if after else "before_cursor_execute"
        self._admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self._matches = matches
        self._lock = threading.Lock()
        self.remaining = times
        self.kills = 0

    def __enter__(self) -> StatementKiller:
        sa.event.listen(self._engine, self._event, self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self._engine, self._event, self._hook)
        self._admin.dispose()

    def _hook(self, connection: sa.Connection, cursor: Any, statement: str, *args: object) -> None:
        if not self._matches(statement):
            return
        with self._lock:
            if self.remaining <= 0:
                return
            self.remaining -= 1
            self.kills += 1
        backend_pid = connection.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        with self._admin.connect() as admin:
            # Waits (up to 5 s) until the backend is gone, so what follows meets a dead one.
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": backend_pid})


# --- worker processes ----------------------------------------------------------------------


def start_worker(settings_file: Path, *, threads: int, log_name: str) -> subprocess.Popen[bytes]:
    """`ordervault worker` in one process (the process SIGKILL hits) with `threads` threads."""
    env = {**os.environ, **ENVIRON}
    # stderr to a file, not a pipe: an unread pipe that fills up would block the worker.
    with (settings_file.parent / log_name).open("ab") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "--config",
                str(settings_file),
                "worker",
                "--processes",
                "1",
                "--threads",
                str(threads),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def assert_running(workers: Sequence[subprocess.Popen[bytes]], folder: Path) -> None:
    """Fail at once, with its stderr, if a worker exited that the test did not kill."""
    for number, worker in enumerate(workers):
        if worker.poll() is not None:
            log = folder / f"worker{number}.stderr"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"worker {number} exited with {worker.returncode}:\n{tail}")


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


# --- the webhook receiver as acme's destination ----------------------------------------------


def acme_with_webhook(
    receiver: WebhookReceiver, *, batch_size: int = 1, port: int | None = None
) -> str:
    """acme's client file, delivering to `receiver` (`batch_size` orders per POST); through
    `port` instead of the receiver's own (a `TcpProxy` in front of it), if given."""
    url = receiver.url if port is None else f"https://127.0.0.1:{port}{receiver.path}"
    return ACME.replace(
        'url = "https://erp.acme.example/orders"',
        f'url = "{url}"\ninsecure_loopback = true\nca_file = "{receiver.ca_file}"\n'
        f"batch_size = {batch_size}",
    )


def received_documents(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """Every order document of every request the receiver accepted, repeats included."""
    documents: list[dict[str, Any]] = []
    for request in receiver.requests:
        if request.status == 200:
            payload = json.loads(request.body)
            documents += payload["orders"] if set(payload) == {"orders"} else [payload]
    return documents


def delivery_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        return outbox.counts_by_status(session)


# --- synthetic orders ----------------------------------------------------------------------


def synthetic_order(n: int, purchased: datetime, **overrides: object) -> Order:
    fields: dict[str, object] = {
        "marketplace_order_id": f"028-{n // 10_000_000:07d}-{n % 10_000_000:07d}",
        "purchased_at": purchased,
        "updated_at": purchased,
        "latest_delivery_by": purchased + timedelta(days=5),
        "buyer": Buyer(name=f"Synthetic Buyer {n}", email=f"b{n}@example.invalid"),
    }
    fields.update(overrides)
    return make_order(**fields)


def store_orders(runtime: Runtime, client: ClientConfig, orders: Sequence[Order]) -> list[int]:
    """Store `orders` in pages of 500 (`store_many` when the Ingestor has it); delivery ids."""
    ingest = Ingestor(runtime)
    store_many = getattr(ingest, "store_many", None)
    ids: list[int] = []
    for start in range(0, len(orders), 500):
        page = orders[start : start + 500]
        results = (
            store_many(client, page) if store_many else [ingest.store(client, o) for o in page]
        )
        for result in results:
            ids += result.delivery_ids
    return ids


def fault_orders(default: int) -> int:
    """ORDERVAULT_FAULT_ORDERS overrides the order count of the large fault tests."""
    value = os.environ.get("ORDERVAULT_FAULT_ORDERS")
    return int(value) if value else default


def wait_until(
    condition: Callable[[], object], *, timeout_s: float, interval_s: float = 0.1
) -> bool:
    """Poll `condition()` until it is true (True) or `timeout_s` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)

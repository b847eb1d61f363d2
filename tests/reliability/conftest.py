"""Fixtures of the fault tests, and the table of their tallies printed at the end of the run.

Broker resources are the tests' own, so a concurrent run elsewhere cannot take their messages:
a RabbitMQ vhost made for the session (rabbitmqctl add_vhost, deleted after), a Redis database
number of their own (13 unless ORDERVAULT_TEST_FAULT_REDIS_URL says otherwise; only it is
flushed), and for the broker-restart test a whole RabbitMQ node started from tmp.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis

from tests.reliability.faults import TALLIES, RabbitNode, Tally
from tests.services import REDIS_URL, unavailable

FAULT_REDIS_URL = os.environ.get(
    "ORDERVAULT_TEST_FAULT_REDIS_URL", urlunsplit(urlsplit(REDIS_URL)._replace(path="/13"))
)


# --- the tally table ---------------------------------------------------------------------------


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """The test's tally; printed as one line at the end of the test, and kept for the table."""
    entry = Tally(fault=request.node.name.removeprefix("test_"))
    TALLIES[request.node.nodeid] = entry
    yield entry
    print(entry.line())


@dataclass
class _Result:
    outcome: str = "passed"
    seconds: float = 0.0  # setup + call + teardown


_RESULTS: dict[str, _Result] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in TALLIES:
        return
    result = _RESULTS.setdefault(report.nodeid, _Result())
    result.seconds += report.duration
    xfail = hasattr(report, "wasxfail")
    if report.failed:
        result.outcome = "failed" if report.when == "call" else "error"
    elif report.skipped and result.outcome == "passed":
        result.outcome = "xfailed" if xfail else "skipped"
    elif report.when == "call" and xfail:
        result.outcome = "xpassed"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLIES:
        return
    width = max(len("test"), *(len(entry.fault) for entry in TALLIES.values()))
    terminalreporter.section("fault injection: orders in, delivered, repeats")
    terminalreporter.write_line(
        f"{'test':<{width}}  {'result':<8} {'in':>6} {'deliv.':>6} {'rep.':>5} {'secs':>6}  detail"
    )
    for nodeid, entry in TALLIES.items():
        result = _RESULTS.get(nodeid, _Result(outcome="?"))
        terminalreporter.write_line(
            f"{entry.fault:<{width}}  {result.outcome:<8} {entry.orders_in:>6} "
            f"{entry.delivered:>6} {entry.repeats:>5} {result.seconds:>6.1f}  {entry.detail}"
        )
        if entry.timings_s:
            timings = ", ".join(f"{k} {v:.1f}s" for k, v in entry.timings_s.items())
            terminalreporter.write_line(f"{'':<{width + 37}}  {timings}")


# --- broker resources of our own -------------------------------------------------------------


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    ctl = os.environ.get("ORDERVAULT_TEST_RABBITMQCTL") or shutil.which("rabbitmqctl")
    if ctl is None:
        raise FileNotFoundError("rabbitmqctl is not installed")
    return subprocess.run([ctl, *args], capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="session")
def fault_rabbitmq_url(rabbitmq_url: str) -> Iterator[str]:
    """The suite's RabbitMQ server, in a vhost made for this session (and deleted after)."""
    vhost = f"ov-fault-{secrets.token_hex(4)}"
    user = urlsplit(rabbitmq_url).username or "guest"
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        unavailable("RabbitMQ vhost", f"rabbitmqctl cannot add one: {detail.strip()[:300]}")
    try:
        yield urlunsplit(urlsplit(rabbitmq_url)._replace(path="/" + quote(vhost, safe="")))
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def fault_redis_url(redis_url: str) -> Iterator[str]:
    """A Redis database number of our own, flushed before and after (and nothing else)."""
    client = redis.Redis.from_url(FAULT_REDIS_URL)
    try:
        client.flushdb()
        yield FAULT_REDIS_URL
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def rabbit_node(tmp_path: Path) -> Iterator[RabbitNode]:
    """A RabbitMQ node this test owns (started, stopped after); see `RabbitNode`."""
    try:
        node = RabbitNode(tmp_path / "rabbit")
    except FileNotFoundError as exc:
        unavailable("RabbitMQ node", str(exc))
    try:
        node.start()
    except RuntimeError as exc:
        unavailable("RabbitMQ node", str(exc))
    try:
        yield node
    finally:
        node.stop()

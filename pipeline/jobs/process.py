"""`ordervault worker`: run the actors in N processes of M threads until told to stop."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from pathlib import Path
from types import FrameType

from pipeline.config import load_config
from pipeline.jobs.actors import Jobs
from pipeline.jobs.broker import make_broker, worker
from pipeline.logs import configure_logging
from pipeline.metrics import start_metrics_server
from pipeline.runtime import Runtime

log = logging.getLogger(__name__)


def run_worker_process(
    config_file: Path, threads: int, stop: threading.Event | None = None, index: int = 0
) -> None:
    """One worker process: consume every queue with `threads` threads until SIGTERM/SIGINT.

    With metrics enabled, process `index` serves them on the configured port + `index`.
    """
    config = load_config(config_file)
    configure_logging(config.settings.logging)
    settings = config.settings
    server = (
        start_metrics_server(settings.metrics.address, settings.metrics.port + index)
        if settings.metrics.enabled
        else None
    )
    stop = stop or threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    broker = make_broker(config.settings.broker.connect_url)
    runtime = Runtime.open(config)
    jobs = Jobs(broker, runtime)
    consumer = worker(broker, threads=threads)
    consumer.start()
    log.info("worker %s started with %d thread(s)", jobs.worker_id, threads)
    try:
        stop.wait()
    finally:
        log.info("worker %s stopping", jobs.worker_id)
        consumer.stop()
        jobs.close()
        broker.close()
        runtime.close()
        if server is not None:
            server.close()


def run_workers(config_file: Path, *, processes: int, threads: int) -> None:
    """Run `processes` worker processes (spawned, so no state is shared) until stopped."""
    if processes == 1:
        run_worker_process(config_file, threads)
        return
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=run_worker_process, args=(config_file, threads, None, index), daemon=False
        )
        for index in range(processes)
    ]
    for child in children:
        child.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set() and any(child.is_alive() for child in children):
        stop.wait(0.5)
    for child in children:
        if child.is_alive():
            child.terminate()  # SIGTERM: each child stops its worker cleanly
    for child in children:
        child.join(timeout=60)

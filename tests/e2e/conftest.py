"""The three services as real processes, for the saga tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT

LOG_DIR = ROOT / ".state" / "logs"
# Payments over 500.00 are declined; saga timeouts are kept out of the way of these tests.
SERVICE_ENV = {"PAYMENT_LIMIT_CENTS": "50000", "ORDER_SAGA_TIMEOUT_S": "900"}


class ServiceProcess:
    """One service instance: started with ``<service>.main run``, its output in a log file."""

    count = 0

    def __init__(self, service: str, **env: str) -> None:
        ServiceProcess.count += 1
        self.service = service
        self.log_path: Path = LOG_DIR / f"test-{service}-{ServiceProcess.count}.log"
        self.health_port = free_port()
        self.env = {**os.environ, **SERVICE_ENV, "HEALTH_PORT": str(self.health_port), **env}
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def start(self) -> ServiceProcess:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        # Log files outlive test sessions: only what this process writes counts.
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}.main", "run"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    def log_text(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def wait_assigned(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ": assigned " in self.log_text():
                return
            assert self.alive(), f"{self.service} exited early:\n{self.log_text()[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(f"{self.service} got no partitions in {timeout_s}s:\n{self.log_text()[-3000:]}")

    def health(self) -> tuple[int, dict]:
        """GET /health: (HTTP status, report)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 40.0) -> int:
        assert self.process is not None
        if self.alive():
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)

    def wait_exit(self, timeout_s: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="package")
def services(connectors: None) -> Iterator[dict[str, ServiceProcess]]:
    running = {name: ServiceProcess(name).start() for name in ("order", "inventory", "payment")}
    for process in running.values():
        process.wait_assigned()
    yield running
    for name, process in running.items():
        if process.alive():
            code = process.stop()
            assert code == 0, f"{name} did not drain cleanly (exit {code}):\n{process.log_text()[-3000:]}"


@pytest.fixture
def ctx(contexts, services):  # type: ignore[no-untyped-def]
    """The services' contexts (engines, outbox writers), with the three services running."""
    return contexts


@contextmanager
def swapped_service(services: dict[str, ServiceProcess], name: str, **env: str) -> Iterator[ServiceProcess]:
    """Run one service with extra settings for the block, then put a default instance back."""
    assert services[name].stop() == 0
    special = ServiceProcess(name, **env).start()
    services[name] = special
    try:
        special.wait_assigned()
        yield special
    finally:
        if special.alive():
            assert special.stop() == 0, f"{name} did not drain cleanly:\n{special.log_text()[-3000:]}"
        services[name] = ServiceProcess(name).start()
        services[name].wait_assigned()

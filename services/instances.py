"""A service instance as its own process, as in production: for the demo, the fault suite and the
e2e tests. Its output goes to a log file; its /health is on a port of its own."""

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
from pathlib import Path
from typing import Any

from eventcore.settings import REPO_ROOT

LOG_DIR = REPO_ROOT / ".state" / "logs"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServiceInstance:
    """``<service>-service run`` in a subprocess; ``log_name`` names its log in .state/logs."""

    def __init__(self, service: str, log_name: str, env: dict[str, str] | None = None) -> None:
        self.service = service
        self.log_path: Path = LOG_DIR / f"{log_name}.log"
        self.health_port = free_port()
        self.env = {**os.environ, "HEALTH_PORT": str(self.health_port), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def start(self) -> ServiceInstance:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        # Log files outlive runs: only what this process writes counts.
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}.main", "run"],
                cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def log_text(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_assigned(self, timeout_s: float = 60.0) -> None:
        """Until the group gave it partitions (it is consuming)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ": assigned " in self.log_text():
                return
            if not self.alive():
                raise RuntimeError(f"{self.service} exited early:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.service} got no partitions in {timeout_s:.0f}s:\n"
                           f"{self.log_text()[-3000:]}")

    def health(self) -> tuple[int, dict[str, Any]]:
        """GET /health: (HTTP status, report); (0, {}) if nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
        except OSError:
            return 0, {}

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 40.0) -> int:
        """Signal it (SIGTERM drains) and wait for its exit code."""
        assert self.process is not None
        if self.alive():
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)

    def wait_exit(self, timeout_s: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)

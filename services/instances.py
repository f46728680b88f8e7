"""A service instance as its own process, as in production: for the demo, the fault suite and the
e2e tests. Its output goes to a log file; its /health is on a port of its own."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from outboxkit import Settings, UsageError, topic_for
from outboxkit.ops import connector_for, publishing_services, service_named as service
from services import ROOT

LOG_DIR = ROOT / ".state" / "logs"
# In a text or a JSON log line alike (where a quote ends the message).
HEALTH_LINE = re.compile(r": health at (http://[^\s\"]+)")


def register_connectors(timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """``scripts/register_connectors.py`` as a person runs it (idempotent): what the demo, the
    benchmark, the fault suite and the tests do before orders flow, its output captured."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "register_connectors.py")],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


class ServiceInstance:
    """``<service>-service run`` in a subprocess; ``log_name`` names its log in .state/logs."""

    def __init__(self, service: str, log_name: str, env: dict[str, str] | None = None) -> None:
        self.service = service
        self.log_path: Path = LOG_DIR / f"{log_name}.log"
        # Any free port, taken by the process itself (a port picked here could be taken by
        # another process before the service binds it); its log says which.
        self.env = {**os.environ, "HEALTH_PORT": "0", **(env or {})}
        # The child runs in the repository's root: an env file named relative to this process's
        # directory (compose's ``OUTBOXKIT_ENV_FILE=.env``) must still name the same file there.
        if env_file := self.env.get("OUTBOXKIT_ENV_FILE"):
            self.env["OUTBOXKIT_ENV_FILE"] = str(Path(env_file).expanduser().absolute())
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    def start(self) -> Self:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        # Log files outlive runs: only what this process writes counts.
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def command(self) -> list[str]:
        return [sys.executable, "-m", service(self.service).module, "run"]

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
        self.wait_for_log(": assigned ", "got no partitions", timeout_s)

    def wait_for_log(self, marker: str, failure: str, timeout_s: float) -> None:
        """Until its log (since it started) shows ``marker``; raises, with the log's tail, if it
        exits first or ``timeout_s`` passes (``failure`` says what did not happen)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if marker in self.log_text():
                return
            if not self.alive():
                raise RuntimeError(f"{self.service} exited early:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.service} {failure} in {timeout_s:.0f}s:\n{self.log_text()[-3000:]}")

    @property
    def health_url(self) -> str | None:
        found = HEALTH_LINE.findall(self.log_text())
        return found[-1] if found else None

    def health(self) -> tuple[int, dict[str, Any]]:
        """GET /health: (HTTP status, report); (0, {}) if nothing answers."""
        url = self.health_url
        if url is None:
            return 0, {}
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
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


class ApiInstance(ServiceInstance):
    """``order-api`` in a subprocess, on ``host:port`` (port 0: a free one, picked now)."""

    def __init__(
        self, log_name: str, port: int = 0, host: str = "127.0.0.1", env: dict[str, str] | None = None
    ) -> None:
        super().__init__("order_api", log_name, env)
        self.host = host
        self.port = port or free_port(host)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "services.order_api.main",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def wait_serving(self, timeout_s: float = 60.0) -> None:
        self.wait_for_log("Application startup complete", "did not start serving", timeout_s)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def consumed_topics() -> dict[str, list[str]]:
    """Each flow service's consumer group -> the topics it reads."""
    return {d.group_id: d.topics for d in publishing_services()}


def connector_topics(connectors: list[str]) -> list[str]:
    """The topics the given outbox connectors write (a service's events, and its commands)."""
    return sorted(
        {
            topic_for(emitted)
            for d in publishing_services()
            if connector_for(d) in connectors
            for emitted in d.emitted
        }
    )


class GroupLagProbe:
    """Records each service group has not committed yet, per group, over the topics it reads."""

    def __init__(self, bootstrap_servers: str) -> None:
        from outboxkit.ops import CommittedOffsets, admin_client

        self._bootstrap = bootstrap_servers
        self._admin = admin_client(bootstrap_servers)
        self._committed = CommittedOffsets(bootstrap_servers)
        self._topics = consumed_topics()

    def lag(self) -> dict[str, int]:
        from outboxkit.ops import group_lag

        return {
            group: int(group_lag(self._admin, self._committed, self._bootstrap, group, topics)["lag"])
            for group, topics in self._topics.items()
        }

    def busy_groups(self) -> list[str]:
        """Service groups that have members now (other instances running)."""
        busy = []
        for group, future in self._admin.describe_consumer_groups(list(self._topics)).items():
            try:
                members = future.result(timeout=15).members
            except Exception:  # a group that never existed has no members
                continue
            if members:
                busy.append(f"{group} ({len(members)} member(s))")
        return busy

    def close(self) -> None:
        self._committed.close()


def process_usage(pid: int) -> tuple[int, float] | None:
    """(resident memory in bytes, CPU seconds used so far) of a process, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb * 1024, (int(stat[11]) + int(stat[12])) / ticks


def cpu_seconds(pid: int | None) -> float:
    """The CPU seconds a process used so far (0 for none, or one that is gone)."""
    usage = process_usage(pid) if pid else None
    return usage[1] if usage else 0.0


def refuse_if_services_run(settings: Settings) -> None:
    """A run that starts its own service instances refuses while others are in the groups:
    they would take partitions and blur every figure."""
    probe = GroupLagProbe(settings.kafka_bootstrap_servers)
    try:
        busy = probe.busy_groups()
    finally:
        probe.close()
    if busy:
        raise UsageError(f"stop the running services first: {', '.join(busy)}")

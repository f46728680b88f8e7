"""The stack's CDC supervisor: restarts connector tasks that failed (outboxkit.cli.supervisor)."""

from __future__ import annotations

import sys
import time

from devstack.components.base import Component
from devstack.config import StatePaths

# It touches its heartbeat file after every pass (every 3 s).
HEARTBEAT_MAX_AGE_S = 30.0


class CdcSupervisor(Component):
    start_timeout = 30.0

    def __init__(self, paths: StatePaths, connect_urls: list[str]) -> None:
        super().__init__(paths, "cdc-supervisor")
        self.connect_url = ",".join(connect_urls)

    @property
    def ports(self) -> tuple[int, ...]:
        return ()  # it only calls Connect's REST API

    def address(self) -> str:
        return f"{self.connect_url} (as a client)"

    @property
    def heartbeat(self):  # type: ignore[no-untyped-def]
        return self.home / "heartbeat"

    def marker(self) -> str:
        return str(self.heartbeat)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "outboxkit.cli.supervisor",
            "--connect-url",
            self.connect_url,
            "--heartbeat",
            str(self.heartbeat),
        ]

    def is_healthy(self) -> bool:
        if not self.heartbeat.is_file():
            return False
        return bool(time.time() - self.heartbeat.stat().st_mtime < HEARTBEAT_MAX_AGE_S)

"""What every part of the stack shares: start once, recognise itself, wait until healthy, stop.

A subclass says only what differs: its ports, its command line, how to prepare its files and
how to tell that it is healthy. Starting, port-conflict checks, health waiting with a timeout
and stopping live here, once.
"""

from __future__ import annotations

import os
import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from devstack.config import HOST, StatePaths
from devstack.console import relative, say, tail
from devstack.errors import StackError
from devstack.ports import find_listener
from devstack.process import ManagedProcess, is_running

HEALTH_POLL_SECONDS = 0.5
LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    healthy: bool
    pid: int | None
    ports: tuple[int, ...]
    log: Path

    @property
    def state(self) -> str:
        if self.running and self.healthy:
            return "up"
        return "unhealthy" if self.running else "down"


class Component(ABC):
    """One process of the stack, identified by ``name`` inside a state directory."""

    #: Seconds ``up`` waits for the health check before giving up on this part.
    start_timeout: float = 120.0
    #: How late the kernel may wake its threads' timed waits (Linux timer slack, inherited by
    #: every thread it starts); None keeps the default 50 us.
    timer_slack_ns: int | None = None

    def __init__(self, paths: StatePaths, name: str) -> None:
        self.paths = paths
        self.name = name

    @cached_property
    def process(self) -> ManagedProcess:
        # Lazy: marker() may use attributes a subclass sets after calling this __init__.
        return ManagedProcess(
            self.name,
            self.paths.pid_file(self.name),
            self.paths.log_file(self.name),
            self.marker(),
        )

    # ----- what a subclass provides -------------------------------------------------------

    @property
    @abstractmethod
    def ports(self) -> tuple[int, ...]:
        """Every TCP port the process listens on; the first is the one clients use."""

    @abstractmethod
    def marker(self) -> str:
        """A string unique to this state directory that appears in the process's command line."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs the process in the foreground."""

    @abstractmethod
    def is_healthy(self) -> bool:
        """A real, quick request to the running process (never just "the port is open")."""

    def prepare(self) -> None:
        """Write config files and one-time initialisation before the process starts.

        Subclasses extend this (calling super) to write their configs.
        """
        self.home.mkdir(parents=True, exist_ok=True)

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    # ----- shared behaviour ---------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.paths.component_dir(self.name)

    @property
    def log_file(self) -> Path:
        return self.process.log_file

    def address(self) -> str:
        return f"{HOST}:{self.ports[0]}"

    def ensure_running(self) -> int:
        """Start the process unless it already runs; return its pid once it is healthy."""
        pid = self.launch()
        self.wait_until_healthy(pid)
        return pid

    def launch(self) -> int:
        """Start the process unless it already runs; returns its pid without waiting."""
        pid = self.process.running_pid()
        if pid is not None:
            return pid
        self._check_ports_free()
        self.prepare()
        say(f"{self.name}: starting on {self.address()} (log: {relative(self.log_file)})")
        pid = self.process.start(
            self.command(), self.environment(), cwd=self.home, timer_slack_ns=self.timer_slack_ns
        )
        self._launched = pid
        return pid

    def wait_until_healthy(self, pid: int) -> None:
        if getattr(self, "_launched", None) != pid:
            if self._safe_is_healthy():
                say(f"{self.name}: already running (pid {pid}) and healthy")
                return
            # Typically a previous `up` was interrupted while this part was starting.
            say(f"{self.name}: running (pid {pid}) but not healthy yet; waiting for it")
        self._wait_healthy(pid)

    def stop(self) -> None:
        say(f"{self.name}: {self.process.stop()}")

    def kill(self, timeout_s: float = 60.0) -> int:
        """SIGKILL the part (a crash, for fault drills) and return its pid once it is gone and its
        ports are free. Both are awaited, in that order: a multi-threaded process shows as a
        zombie while its other threads still hold its sockets, so "not running" alone does not
        mean a restart can bind."""
        pid = self.process.running_pid()
        if pid is None:
            raise StackError(f"{self.name} is not running: nothing to kill")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        while self.process.running_pid() is not None or self.port_conflicts():
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name} (pid {pid}) still holds its ports {timeout_s:.0f}s after SIGKILL"
                )
            time.sleep(0.1)
        return pid

    def status(self) -> ComponentStatus:
        pid = self.process.running_pid()
        healthy = pid is not None and self._safe_is_healthy()
        return ComponentStatus(self.name, pid is not None, healthy, pid, self.ports, self.log_file)

    def _safe_is_healthy(self) -> bool:
        try:
            return self.is_healthy()
        except Exception:  # a health probe must never crash `status`
            return False

    def port_conflicts(self) -> list[str]:
        """What holds this part's ports, unless the part itself runs (then they are its own)."""
        if self.process.running_pid() is not None:
            return []
        conflicts = []
        for port in self.ports:
            listener = find_listener(port)
            if listener is not None:
                conflicts.append(
                    f"port {port} ({self.name}) is already in use by another process: {listener.describe()}"
                )
        return conflicts

    def _check_ports_free(self) -> None:
        conflicts = self.port_conflicts()
        if conflicts:
            raise StackError("; ".join(conflicts) + ". Stop it, or stop the stack that owns it.")

    def _wait_healthy(self, pid: int) -> None:
        started = time.monotonic()
        while True:
            if not is_running(pid):
                self.process.pid_file.unlink(missing_ok=True)
                raise self._failure(f"exited during startup (pid {pid})")
            if self._safe_is_healthy():
                say(f"{self.name}: healthy after {time.monotonic() - started:.1f}s (pid {pid})")
                return
            if time.monotonic() - started > self.start_timeout:
                # Stop it: a half-started process would hold the ports and confuse the next up.
                self.process.stop()
                raise self._failure(f"not healthy within {self.start_timeout:.0f}s; it was stopped")
            time.sleep(HEALTH_POLL_SECONDS)

    def _failure(self, what: str) -> StackError:
        lines = tail(self.log_file, LOG_TAIL_LINES) or "(log is empty)"
        return StackError(f"{self.name} {what}. Last {LOG_TAIL_LINES} lines of {self.log_file}:\n{lines}")

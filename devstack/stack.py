"""The whole stack: its parts in start order, and the up/down/status operations on them."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from devstack.components.base import Component, ComponentStatus
from devstack.components.cdc_supervisor import CdcSupervisor
from devstack.components.connect import Connect
from devstack.components.jaeger import Jaeger
from devstack.components.kafka import Kafka
from devstack.components.mariadb import MariaDbInstance
from devstack.components.registry import Registry
from devstack.config import StatePaths, Topology, state_paths
from devstack.console import relative, say
from devstack.context import StackContext
from devstack.docker import DockerEngine
from devstack.errors import StackError
from devstack.java import system_java
from devstack.kafka_access import ensure_access
from devstack.stackenv import recorded_topology, recorded_tracing


def describe(topology: Topology) -> str:
    if not topology.cluster:
        return "1 Kafka node, 1 Connect worker"
    return (
        f"{topology.brokers} Kafka nodes (replication {topology.replication_factor}, "
        f"min.insync.replicas {topology.min_insync_replicas}), {topology.workers} Connect workers"
    )


def start_together(components: Sequence[Component]) -> None:
    """Start every one of ``components``, then wait until each is healthy."""
    started = [(component, component.launch()) for component in components]
    for component, pid in started:
        component.wait_until_healthy(pid)


class Stack:
    """The parts in the order ``up`` starts them; ``down`` goes in reverse.

    ``brokers`` chooses the topology (1, or 3 for a cluster with two Connect workers); without
    it, the one the last ``up`` recorded in stack.env, else a single node. ``tracing`` adds
    Jaeger, where every process of the stack's users sends its spans; without it, what the last
    ``up`` recorded.
    """

    def __init__(
        self, state_dir: Path | str | None = None, brokers: int | None = None, tracing: bool | None = None
    ) -> None:
        self.paths: StatePaths = state_paths(state_dir)
        self.recorded = recorded_topology(self.paths)
        self.topology = Topology(brokers) if brokers is not None else self.recorded or Topology()
        self.tracing = recorded_tracing(self.paths) if tracing is None else tracing
        self.tracing_off = tracing is False  # `--no-tracing`: stop a Jaeger that runs
        self.ctx = StackContext(self.paths, self.topology, self.tracing)
        self.mariadb = MariaDbInstance(self.paths)
        self.brokers = [Kafka(self.ctx, self.topology, n) for n in range(1, self.topology.brokers + 1)]
        self.registry = Registry(self.ctx)
        self.workers = [Connect(self.ctx, self.topology, w) for w in range(1, self.topology.workers + 1)]
        self.cdc_supervisor = CdcSupervisor(self.paths, [w.url for w in self.workers])
        self.jaeger = Jaeger(self.ctx)
        # Not a part of the native stack: only the compose stack needs it (`stack images`).
        self.docker = DockerEngine(self.paths)

    @property
    def kafka(self) -> Kafka:
        """The first broker (the only one on a single node)."""
        return self.brokers[0]

    @property
    def connect(self) -> Connect:
        """The first Connect worker (the only one on a single node)."""
        return self.workers[0]

    @property
    def components(self) -> tuple[Component, ...]:
        # Jaeger comes first so that the parts after it can send spans from their start.
        tracing = (self.jaeger,) if self.tracing else ()
        return (*tracing, self.mariadb, *self.brokers, self.registry, *self.workers, self.cdc_supervisor)

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        names = ", ".join(c.name for c in self.components)
        raise KeyError(f"no component named {name!r} (one of: {names})")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One up/down at a time per state directory (two test sessions, a shell and pytest)."""
        self.paths.create()
        with self.paths.lock_file.open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say("another stack command holds the lock; waiting for it to finish")
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def up(self) -> None:
        started = time.monotonic()
        with self.locked():
            say(f"state directory: {relative(self.paths.root)}")
            system_java()  # fail before starting anything if Java is missing or too old
            self._refuse_a_running_other_topology()
            conflicts = [c for component in self.components for c in component.port_conflicts()]
            if conflicts:
                raise StackError(
                    "nothing was started: "
                    + "; ".join(conflicts)
                    + ". Stop those processes, or the stack that owns them."
                )
            say(f"topology: {describe(self.topology)}")
            env = self.ctx.stack_env
            # Everything is fetched (once) before any process starts, so a failed download
            # leaves nothing half-started.
            _ = self.ctx.installed
            _ = self.registry.java
            if self.tracing:
                _ = self.jaeger.binary
                self.jaeger.ensure_running()
                say(f"tracing: spans go to Jaeger; find them at {self.jaeger.url}")
            elif self.tracing_off and self.jaeger.process.running_pid() is not None:
                self.jaeger.stop()
            self.mariadb.start()
            self.bootstrap_database(env)
            # A quorum elects a leader only once a majority of its voters runs: start them all,
            # then wait for each.
            start_together(self.brokers)
            if self.topology.cluster:
                ensure_access(self.topology.bootstrap_servers, env)
            self.registry.ensure_running()
            start_together(self.workers)
            self.cdc_supervisor.ensure_running()
        say(
            f"all parts up in {time.monotonic() - started:.1f}s; "
            f"endpoints and passwords in {relative(self.paths.stack_env)}"
        )

    def install(self) -> None:
        """Fetch (and with tracing, build) whatever is missing; start nothing."""
        started = time.monotonic()
        with self.locked():
            system_java()
            _ = self.ctx.installed
            _ = self.registry.java
        if self.tracing:
            # Outside the lock: a build takes minutes and `up` need not wait for it.
            say(f"jaeger: {relative(self.jaeger.binary)}")
        say(f"everything installed in {time.monotonic() - started:.1f}s; nothing was started")

    def _refuse_a_running_other_topology(self) -> None:
        if self.recorded is None or self.recorded == self.topology:
            return
        other = Stack(self.paths.root, self.recorded.brokers)
        running = [
            c.name
            for c in other.components
            if c.process.running_pid() is not None and c.name not in {mine.name for mine in self.components}
        ]
        if running:
            raise StackError(
                f"the stack here runs {describe(self.recorded)} ({', '.join(running)}): "
                f"`stack down` first, then `stack up --brokers {self.topology.brokers}`"
            )
        say(
            f"switching from {describe(self.recorded)} to {describe(self.topology)}: Kafka and Connect "
            "start with the data of that topology (its own folders under the state directory); "
            "register the connectors again (scripts/register_connectors.py)"
        )

    def bootstrap_database(self, env: dict[str, str]) -> None:
        # Idempotent, so it runs on every up: a previous up that was interrupted after starting
        # MariaDB, or a service added to the roster since, still ends with its users in place.
        from outboxkit import Settings, service_definitions
        from outboxkit.ops import provisioning_sql

        definitions = service_definitions()
        self.mariadb.run_sql(provisioning_sql(Settings(dict(env)), definitions))
        say(f"mariadb: databases and users of {len(definitions)} services ensured (outboxkit provisioning)")

    def down(self) -> None:
        with self.locked():
            for component in reversed(self.components):
                component.stop()
            if not self.tracing and self.jaeger.process.running_pid() is not None:
                self.jaeger.stop()

    def parts(self, names: list[str]) -> list[Component]:
        """Components by name; ``kafka`` and ``connect`` also stand for every broker or worker."""
        groups: dict[str, Sequence[Component]] = {"kafka": self.brokers, "connect": self.workers}
        chosen: list[Component] = []
        for name in names:
            for component in groups.get(name) or [self.component(name)]:
                if component not in chosen:
                    chosen.append(component)
        return chosen

    def restart(self, names: list[str]) -> None:
        chosen = self.parts(names)
        with self.locked():
            for component in reversed(chosen):
                component.stop()
            deadline = time.monotonic() + 30
            while any(c.port_conflicts() for c in chosen) and time.monotonic() < deadline:
                time.sleep(0.5)  # a killed process's ports take a moment to be free again
            for group in (self.brokers, self.workers):
                start_together([c for c in group if c in chosen])
            for component in chosen:
                if component not in self.brokers and component not in self.workers:
                    component.ensure_running()

    def status(self) -> list[ComponentStatus]:
        return [component.status() for component in self.components]

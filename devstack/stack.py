"""The whole stack: its parts in start order, and the up/down/status operations on them."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from devstack.components.base import Component, ComponentStatus
from devstack.components.cdc_supervisor import CdcSupervisor
from devstack.components.connect import Connect
from devstack.components.kafka import Kafka
from devstack.components.mariadb import (
    MariaDbInstance,
    password_sync_sql,
    render_sql_template,
)
from devstack.components.registry import Registry
from devstack.config import BOOTSTRAP_SQL_TEMPLATE, StatePaths, state_paths
from devstack.console import relative, say
from devstack.context import StackContext
from devstack.docker import DockerEngine
from devstack.errors import StackError
from devstack.java import system_java


class Stack:
    """The parts in the order ``up`` starts them; ``down`` goes in reverse."""

    def __init__(self, state_dir: Path | str | None = None) -> None:
        self.paths: StatePaths = state_paths(state_dir)
        self.ctx = StackContext(self.paths)
        self.mariadb = MariaDbInstance(self.paths)
        self.kafka = Kafka(self.ctx)
        self.registry = Registry(self.ctx)
        self.connect = Connect(self.ctx)
        self.cdc_supervisor = CdcSupervisor(self.paths)
        # Not a part of the native stack: only the compose stack needs it (`stack images`).
        self.docker = DockerEngine(self.paths)

    @property
    def components(self) -> tuple[Component, ...]:
        return (self.mariadb, self.kafka, self.registry, self.connect, self.cdc_supervisor)

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
            conflicts = [c for component in self.components for c in component.port_conflicts()]
            if conflicts:
                raise StackError("nothing was started: " + "; ".join(conflicts)
                                 + ". Stop those processes, or the stack that owns them.")
            env = self.ctx.stack_env
            # Everything is fetched (once) before any process starts, so a failed download
            # leaves nothing half-started.
            _ = self.ctx.installed
            _ = self.registry.java
            self.mariadb.start()
            self.bootstrap_database(env)
            for component in (self.kafka, self.registry, self.connect, self.cdc_supervisor):
                component.ensure_running()
        say(
            f"all parts up in {time.monotonic() - started:.1f}s; "
            f"endpoints and passwords in {relative(self.paths.stack_env)}"
        )

    def bootstrap_database(self, env: dict[str, str]) -> None:
        # Idempotent (IF NOT EXISTS everywhere), so it runs on every up: a previous up that
        # was interrupted after starting MariaDB still ends with the users in place.
        template = BOOTSTRAP_SQL_TEMPLATE.read_text()
        sql = render_sql_template(template + "\n" + password_sync_sql(template), env)
        self.mariadb.run_sql(sql)
        say("mariadb: databases and users ensured (stack/sql/bootstrap.sql.tmpl)")

    def down(self) -> None:
        with self.locked():
            for component in reversed(self.components):
                component.stop()

    def status(self) -> list[ComponentStatus]:
        return [component.status() for component in self.components]

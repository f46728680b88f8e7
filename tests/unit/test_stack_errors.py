"""The native stack's clear errors: a port taken, a part that never gets healthy or dies while
starting, Java missing or too old. A tiny Python process stands in for a server."""

from __future__ import annotations

import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.components.base import Component
from devstack.config import StatePaths
from devstack.errors import StackError
from devstack.java import system_java
from devstack.process import is_running


class ScriptedPart(Component):
    """A stack part whose process runs ``script`` and never answers a health check."""

    start_timeout = 1.0

    def __init__(self, root: Path, script: str, port: int) -> None:
        super().__init__(StatePaths(root), "scripted")
        self.script = script
        self.port = port

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def marker(self) -> str:
        return f"scripted-part-{self.paths.root}"

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script, self.marker()]

    def is_healthy(self) -> bool:
        return False


def processes_running(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and is_running(int(entry.name)):
                found.append(int(entry.name))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_in_use_is_named_and_nothing_starts(tmp_path, occupied_port):
    part = ScriptedPart(tmp_path, "import time; time.sleep(60)", occupied_port)
    with pytest.raises(StackError, match=rf"port {occupied_port} \(scripted\) is already in use"):
        part.ensure_running()
    assert part.process.recorded_pid() is None


def test_a_part_that_never_gets_healthy_is_stopped_and_its_log_shown(tmp_path):
    part = ScriptedPart(
        tmp_path, "print('warming caches', flush=True); import time; time.sleep(60)", free_port()
    )
    with pytest.raises(StackError) as failure:
        part.ensure_running()
    message = str(failure.value)
    assert "scripted not healthy within 1s; it was stopped" in message
    assert "warming caches" in message  # the tail of its log
    assert part.process.recorded_pid() is None
    assert processes_running(part.marker()) == []  # a half-started part would hold its ports


def test_a_part_that_dies_while_starting_shows_why(tmp_path):
    part = ScriptedPart(tmp_path, "import sys; print('bad setting: x'); sys.exit(3)", free_port())
    with pytest.raises(StackError) as failure:
        part.ensure_running()
    assert "scripted exited during startup" in str(failure.value)
    assert "bad setting: x" in str(failure.value)


@pytest.fixture
def fresh_java_lookup() -> Iterator[None]:
    system_java.cache_clear()
    yield
    system_java.cache_clear()


def test_java_missing_is_a_clear_error(tmp_path, monkeypatch, fresh_java_lookup):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="`java` is not on PATH: install a JDK 17"):
        system_java()


def test_java_too_old_is_a_clear_error(tmp_path, monkeypatch, fresh_java_lookup):
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="is Java 11; the stack needs Java 17 or newer"):
        system_java()

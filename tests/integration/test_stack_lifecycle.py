"""The native stack's lifecycle, driven through the `stack` command as a person would.

`up` twice is harmless, `status` reports every part up, `down` leaves no process and no
port behind, and `up` brings it all back. The stack is left UP at the end: the other
integration tests reuse it.

No assertion depends on timing: each step runs to completion (the commands wait for health
checks themselves) before its outcome is checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import api
from devstack.ports import find_listener
from devstack.process import is_running
from devstack.stack import Stack

pytestmark = pytest.mark.stack

REPO_ROOT = Path(__file__).resolve().parents[2]
PARTS = ("mariadb", "kafka", "registry", "connect", "cdc-supervisor")
# A first `up` on a fresh machine downloads ~350 MB before starting four JVMs/servers.
UP_TIMEOUT_SECONDS = 1500


def run_stack(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m devstack ARGS` (the same code as the `stack` console script)."""
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT_SECONDS,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def status_states(output: str) -> dict[str, str]:
    """PART -> STATE from the `stack status` table."""
    states: dict[str, str] = {}
    for line in output.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2 and fields[0] in PARTS:
            states[fields[0]] = fields[1]
    return states


@pytest.fixture
def leave_stack_up() -> Iterator[None]:
    """Whatever happens in the test, the other tests find the stack running afterwards."""
    yield
    api.ensure_up()


@pytest.mark.timeout(UP_TIMEOUT_SECONDS * 2)
def test_second_up_is_harmless_and_reports_everything_running(leave_stack_up: None) -> None:
    ok(run_stack("up"))
    pids_after_first = {s.name: s.pid for s in api.status()}

    second = ok(run_stack("up"))

    for part in PARTS:
        assert f"{part}: already running" in second, second
    assert "starting on" not in second, "the second up started something again"
    assert "fetching" not in second, "the second up downloaded something again"
    assert {s.name: s.pid for s in api.status()} == pids_after_first

    status = run_stack("status")
    assert status.returncode == 0, status.stdout
    assert status_states(status.stdout) == dict.fromkeys(PARTS, "up")


@pytest.mark.timeout(UP_TIMEOUT_SECONDS * 2)
def test_down_leaves_nothing_behind_and_up_restores_everything(leave_stack_up: None) -> None:
    ok(run_stack("up"))
    stack = Stack()
    pids = {c.name: c.process.recorded_pid() for c in stack.components}
    ports = [port for c in stack.components for port in c.ports]
    assert all(pids.values()), pids

    ok(run_stack("down"))

    # `down` returns only after each process has exited. An exited process whose parent has
    # not collected it yet is a zombie: it runs nothing and holds no port, so it counts as gone.
    still_running = {name: pid for name, pid in pids.items() if pid and is_running(pid)}
    assert still_running == {}
    assert {port: find_listener(port) for port in ports if find_listener(port)} == {}
    assert not any(c.process.pid_file.exists() for c in stack.components)
    status = run_stack("status")
    assert status.returncode == 3, status.stdout
    assert status_states(status.stdout) == dict.fromkeys(PARTS, "down")

    ok(run_stack("up"))

    assert api.is_up()
    endpoints = api.endpoints()
    assert endpoints.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert endpoints.schema_registry_url.endswith("/apis/ccompat/v7")
    assert endpoints.cdc_db_password


def test_up_checks_every_port_before_it_starts_anything(leave_stack_up: None, tmp_path: Path) -> None:
    """A second stack (another state directory) finds every port held by the running one."""
    ok(run_stack("up"))
    other = tmp_path / "other-stack"
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "up"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STACK_STATE_DIR": str(other)},
    )
    assert result.returncode == 1
    assert "nothing was started" in result.stderr
    for port in (3307, 9092, 9093, 8081, 9081, 8083):
        assert f"port {port} " in result.stderr
    assert not (other / "pids").exists() or not any((other / "pids").iterdir())
    assert not (other / "mariadb" / "data").exists()  # not even MariaDB's datadir was made

"""Shared fixtures: the real stack is started once per test session (or reused if it runs).

Markers say what a test needs beyond Python (pyproject.toml lists them): ``stack`` (the native or
compose stack; given to every test that uses the ``stack`` fixture, directly or through another
fixture), ``cluster`` (three brokers and two Connect workers), ``compose`` (a Docker engine) and
``maven`` (Maven and Maven Central). ``./run check`` runs the rest with ``OUTBOXKIT_NO_STACK=1``:
a test that reaches for the stack unmarked then fails at once, instead of starting it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.settings import Settings
from outboxkit.kafka.replay import EventTap
from outboxkit.service.context import ServiceContext
from outboxkit.service.roster import connector_for, service
from services import build_all
from services.instances import register_connectors
from services.order.commands import place_order
from services.order.domain import OrderLine
from tests.backends import StackBackend, backend_from_env

ROOT = Path(__file__).resolve().parent.parent


NO_STACK = "OUTBOXKIT_NO_STACK"
# What a test that needs no stack sees instead of the stack's env file: the same whether a stack
# was ever started on the machine or not (secrets that open nothing; every address the default).
OFFLINE_ENV = "DB_PASSWORD_SECRET=offline-tests\nCDC_DB_PASSWORD=offline-tests\n"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()) and item.get_closest_marker("stack") is None:
            item.add_marker(pytest.mark.stack)


@pytest.fixture(autouse=True)
def offline_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test without the ``stack`` marker, and the commands it starts, read no stack's env file."""
    if request.node.get_closest_marker("stack") is not None:
        return
    env_file = tmp_path_factory.getbasetemp() / "offline-stack.env"
    env_file.write_text(OFFLINE_ENV)
    monkeypatch.setenv("OUTBOXKIT_ENV_FILE", str(env_file))
    monkeypatch.delenv("STACK_STATE_DIR", raising=False)
    if request.node.get_closest_marker("maven") is None:
        monkeypatch.setattr("devstack.context.ensure_downloads", _refuse_downloads)


def _refuse_downloads(*_: object) -> None:
    """The quick loop touches nothing: a test that needs the stack's artifacts is marked, or it
    uses the fake install layout (tests/unit/fakes.py, offline_stack_context)."""
    pytest.fail("this test would download the stack's artifacts: use offline_stack_context()", pytrace=False)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackBackend]:
    """The native stack (reused if it runs), or the compose stack with STACK_BACKEND=compose."""
    if os.environ.get(NO_STACK):
        pytest.fail(f"this test needs the stack, yet {NO_STACK} is set: mark it `stack`", pytrace=False)
    backend = backend_from_env()
    backend.up()
    yield backend
    backend.teardown()


@pytest.fixture(scope="session")
def settings(stack: StackBackend) -> Settings:
    return Settings.load()


@pytest.fixture(scope="session")
def contexts(settings: Settings) -> dict[str, ServiceContext[Any]]:
    return build_all(settings)


@pytest.fixture(scope="session")
def order_context(contexts: dict[str, ServiceContext[Any]]) -> ServiceContext[Any]:
    return contexts["order"]


@pytest.fixture(scope="session")
def connectors(contexts: dict[str, ServiceContext[Any]]) -> None:
    """The outbox connectors, registered by the user-facing script (idempotent)."""
    result = register_connectors()
    assert result.returncode == 0, f"register_connectors failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def order_tap(settings: Settings, connectors: None) -> Iterator[EventTap]:
    with EventTap(["order.events"], settings, since=recently()) as tap:
        yield tap


def recently(margin_s: float = 120.0) -> datetime:
    """Where a tap starts reading: a development machine's topics may hold millions of records
    (benchmarks), and a test only needs what was written since it began."""
    return datetime.now(UTC) - timedelta(seconds=margin_s)


def place_sentinel(context: ServiceContext[Any]) -> str:
    return place_order(context.uow_factory, "sentinel", [OrderLine("SENTINEL", 1, 1)]).id


def read_until_sentinel(
    tap: EventTap, context: ServiceContext[Any], timeout_s: float = 120.0, settle_s: float = 2.0
) -> list[ConsumedEvent]:
    """Everything committed before now has been published once a later order's event shows up
    (one connector task publishes in binlog order). The tap reads partitions at their own pace,
    so it must also have reached the end of every partition; a short settle catches records
    still in flight to other partitions."""
    sentinel = place_sentinel(context)
    tap.wait_for(lambda events: any(e.key == sentinel for e in events) and tap.at_end(), timeout_s)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        tap.poll(0.2)
    return tap.events


def events_for(events: list[ConsumedEvent], keys: set[str] | str) -> list[ConsumedEvent]:
    wanted = {keys} if isinstance(keys, str) else keys
    return [e for e in events if e.key in wanted]


def connector_of(name: str) -> str:
    """The connector that publishes service ``name``'s outbox: the server's one, or the service's
    own under CDC_CONNECTORS=per-service."""
    found = connector_for(service(name))
    assert found is not None, f"nothing publishes {name}'s outbox"
    return found


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what or condition}")

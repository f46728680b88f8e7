"""The CDC supervisor restarts failed tasks with backoff (pure logic, a fake Connect)."""

from __future__ import annotations

import logging
from itertools import pairwise

from eventcore.cdc.connect_client import ConnectorState
from eventcore.cdc.supervisor import TaskSupervisor
from eventcore.failures import Backoff

CAUSE = "io.debezium.DebeziumException: Error reading MySQL variables: Connection refused"
FAILED = ConnectorState("order-outbox", "RUNNING", ["FAILED"], [f"{CAUSE}\n\tat somewhere"])
RUNNING = ConnectorState("order-outbox", "RUNNING", ["RUNNING"], [])


class FakeConnect:
    url = "http://connect"

    def __init__(self) -> None:
        self.state_of = {"order-outbox": FAILED}
        self.restarted: list[str] = []

    def connectors(self) -> list[str]:
        return list(self.state_of)

    def state(self, name: str) -> ConnectorState:
        return self.state_of[name]

    def restart_failed(self, name: str) -> None:
        self.restarted.append(name)


def test_a_failed_task_is_restarted_with_backoff_and_the_recovery_logged_once(caplog):
    connect = FakeConnect()
    supervisor = TaskSupervisor(connect, Backoff(initial_s=2.0, max_s=10.0))  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    assert supervisor.check_once(now=100.0) == ["order-outbox"]
    assert supervisor.check_once(now=100.5) == []  # still failing, but not yet time to try again
    assert supervisor.check_once(now=103.0) == ["order-outbox"]  # after the backoff (1-2 s)
    assert connect.restarted == ["order-outbox", "order-outbox"]
    connect.state_of["order-outbox"] = RUNNING
    assert supervisor.check_once(now=200.0) == []
    assert supervisor.check_once(now=201.0) == []
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == ("order-outbox: restarting its failed tasks (attempt 1): "
                           "io.debezium.DebeziumException: Error reading MySQL variables: Connection refused")
    assert messages[-1] == "order-outbox: running again after 2 restart(s)"
    assert sum("running again" in m for m in messages) == 1


def test_backoff_between_restarts_is_capped_so_recovery_follows_the_database_within_seconds():
    connect = FakeConnect()
    supervisor = TaskSupervisor(connect, Backoff(initial_s=2.0, max_s=10.0))  # type: ignore[arg-type]
    restarts_at = [now for now in range(120) if supervisor.check_once(now=float(now))]
    gaps = [later - earlier for earlier, later in pairwise(restarts_at)]
    assert max(gaps) <= 10  # never more than the cap between tries, however long it fails
    assert gaps[0] < gaps[-1]  # and it does back off
    assert 10 <= len(restarts_at) <= 40  # neither hammering Connect nor giving up

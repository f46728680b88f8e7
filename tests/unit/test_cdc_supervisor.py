"""The CDC supervisor restarts failed tasks with backoff, and leaves alone (or recovers) the ones no
restart can heal (pure logic, a fake Connect)."""

from __future__ import annotations

import logging
from itertools import pairwise

from outboxkit.base.failures import Backoff
from outboxkit.cdc.connect_client import ConnectorState
from outboxkit.cdc.supervisor import TaskSupervisor

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

    def restart(self, name: str, only_failed: bool = False) -> None:
        assert only_failed, "running tasks are left alone"
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
    assert messages[0] == (
        "order-outbox: restarting its failed tasks (attempt 1): "
        "io.debezium.DebeziumException: Error reading MySQL variables: Connection refused"
    )
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


PURGED_TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event "
    "producer.\n"
    "\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n"
    "Caused by: io.debezium.DebeziumException: Could not find GTID state requested by slave in any binlog "
    "files. Probably the slave state is too old and required binlog files have been purged. Error code: "
    "1236; SQLSTATE: HY000.\n\tat io.debezium..."
)
PURGED = ConnectorState("order-outbox", "RUNNING", ["FAILED"], [PURGED_TRACE])
DENIED = ConnectorState(
    "order-outbox",
    "RUNNING",
    ["FAILED"],
    ["java.sql.SQLException: Access denied for user 'cdc'@'10.0.0.5' (using password: YES)"],
)


def test_a_purged_binlog_position_is_not_restarted_and_said_once(caplog):
    connect = FakeConnect()
    connect.state_of["order-outbox"] = PURGED
    supervisor = TaskSupervisor(connect, Backoff(initial_s=2.0, max_s=10.0))  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    for now in range(0, 120, 3):
        assert supervisor.check_once(now=float(now)) == []
    assert connect.restarted == []
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "order-outbox: not restarting it: binlog position purged (Could not find GTID "
        "state requested by slave in any binlog files. Probably the slave state is too old and "
        "required binlog files have been purged. Error code: 1236; SQLSTATE: HY000.); run "
        "`outboxkit cdc recover order-outbox` to stream from the current binlog and republish the outbox "
        "rows it may have missed"
    ]
    connect.state_of["order-outbox"] = RUNNING  # someone recovered it
    supervisor.check_once(now=200.0)
    assert caplog.records[-1].getMessage().startswith("order-outbox: running again")


def test_refused_credentials_are_not_restarted_either(caplog):
    connect = FakeConnect()
    connect.state_of["order-outbox"] = DENIED
    supervisor = TaskSupervisor(connect)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    supervisor.check_once(now=0.0)
    supervisor.check_once(now=50.0)
    assert connect.restarted == []
    assert len(caplog.records) == 1
    assert "credentials refused" in caplog.records[0].getMessage()
    assert "CDC_DB_PASSWORD" in caplog.records[0].getMessage()


def test_with_auto_recovery_a_purged_connector_is_recovered_and_retried_with_backoff_if_that_fails():
    connect = FakeConnect()
    connect.state_of["order-outbox"] = PURGED
    attempts: list[str] = []

    def recover(name: str) -> None:
        attempts.append(name)
        if len(attempts) == 1:
            raise RuntimeError("the database does not answer")
        connect.state_of[name] = RUNNING

    supervisor = TaskSupervisor(connect, Backoff(initial_s=2.0, max_s=10.0), recover=recover)  # type: ignore[arg-type]
    assert supervisor.check_once(now=0.0) == []  # the first recovery failed
    assert supervisor.check_once(now=0.5) == []  # backing off
    assert supervisor.check_once(now=30.0) == ["order-outbox"]
    assert attempts == ["order-outbox", "order-outbox"]
    assert connect.restarted == []  # a restart would only have failed again

"""CDC resumes within seconds of the database coming back, and says so when it does not."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from devstack.components.mariadb import MariaDbInstance
from devstack.stack import Stack
from outboxkit.cdc.connect_client import ConnectClient
from outboxkit.cdc.connectors import Deployment, effective_config
from outboxkit.kafka.replay import EventTap
from outboxkit.service.roster import outbox_connectors
from services.inventory.commands import set_stock
from services.order.commands import place_order
from services.order.domain import OrderLine
from tests.conftest import ROOT, connector_of, recently, wait_until

pytestmark = pytest.mark.stack


def connector_status(*args: str) -> subprocess.CompletedProcess[str]:
    script = str(ROOT / "scripts" / "register_connectors.py")
    return subprocess.run(
        [sys.executable, script, "--status", *args], capture_output=True, text=True, timeout=120
    )


def test_an_order_placed_after_a_mariadb_restart_is_published_within_seconds(
    order_context, settings, connectors
):
    database = Stack().mariadb
    with EventTap(["order.events"], settings, since=recently()) as tap:
        tap.wait_for(lambda _events: tap.at_end(), 60)
        try:
            database.kill()
        finally:
            # Whatever happens, the next tests find MariaDB up.
            database.start()
        time.sleep(5)
        order = place_order(order_context.uow_factory, "after-restart", [OrderLine("SKU-R", 1, 10)])
        placed = time.monotonic()
        tap.wait_for(lambda events: any(e.key == order.id for e in events), 10)
        print(f"published {time.monotonic() - placed:.2f}s after the commit, 5 s after MariaDB was back")
    result = connector_status()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": streaming") == len(outbox_connectors())


@pytest.fixture
def stall_probe(settings, connectors) -> Iterator[str]:
    """A connector that captures nothing and would notice a lost binlog connection only after
    10 minutes (Debezium's default keep-alive is 1 minute): what every connector was before."""
    name = f"stall-probe-{uuid.uuid4().hex[:6]}"
    base = next(d for d in outbox_connectors() if d.name == connector_of("order"))
    config = effective_config(
        base,
        Deployment(settings.db_host, settings.db_port, settings.kafka_bootstrap_servers),
        is_mariadb=True,
    )
    prefix = name.replace("-", "_")
    config.update(
        {
            "topic.prefix": prefix,
            "database.server.id": str(5500 + int(uuid.uuid4().int % 400)),
            "database.include.list": "order_db",
            "table.include.list": "order_db.no_such_table",
            "connect.keep.alive.interval.ms": "600000",
            "schema.history.internal.kafka.topic": f"_schema-history.{prefix}",
            "predicates.isOutboxTable.pattern": f"{prefix}\\.order_db\\.no_such_table",
        }
    )
    client = ConnectClient(settings.connect_url)
    client.put_config(name, config)
    client.wait_until_running(name)
    yield name
    client._call("DELETE", f"/connectors/{name}")


def kill_binlog_connections() -> int:
    """Cut every CDC connection to the binlog from the server side, as a network cut would."""
    database = MariaDbInstance()
    ids = database.run_sql("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
    for connection_id in ids.split():
        database.run_sql(f"KILL CONNECTION {connection_id}")
    return len(ids.split())


def test_a_cut_binlog_connection_is_restored_in_seconds_and_a_stalled_one_is_reported(
    contexts, stall_probe, settings
):
    # Binlog traffic: a connector emits heartbeats while it reads the binlog, which the probe
    # only does when something is written (the real connectors also get the server's own).
    writing = threading.Event()

    def write() -> None:
        while not writing.wait(0.5):
            set_stock(contexts["inventory"].uow_factory, "STALL-PROBE", 1)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        wait_until(
            lambda: connector_status("--only", stall_probe, "--stale-after", "5").returncode == 0,
            60,
            "the probe to stream",
        )
        # Every outbox connector's binlog connection and the probe's were cut.
        assert kill_binlog_connections() >= len(outbox_connectors()) + 1
        cut = time.monotonic()

        # The real connectors (keep-alive 1 s) are back within seconds...
        wait_until(
            lambda: (
                connector_status(
                    "--stale-after", "3", *[f"--only={d.name}" for d in outbox_connectors()]
                ).returncode
                == 0
            ),
            20,
            "the outbox connectors to stream again",
        )
        print(f"outbox connectors streaming again {time.monotonic() - cut:.1f}s after the cut")
        # ...while the probe's task still says RUNNING, and the status says it is not streaming.
        time.sleep(6)
        probe = connector_status("--only", stall_probe, "--stale-after", "5")
        assert probe.returncode == 3, probe.stdout + probe.stderr
        assert "RUNNING" in probe.stderr and "NOT STREAMING" in probe.stderr
        state = ConnectClient(settings.connect_url).state(stall_probe)
        assert state is not None and state.running  # what REST alone would have said

        wait_until(
            lambda: (
                "NOT STREAMING"
                in subprocess.run(
                    [sys.executable, "-m", "devstack", "status"], capture_output=True, text=True
                ).stdout
            ),
            30,
            "`stack status` to report the stalled connector",
        )
        status = subprocess.run([sys.executable, "-m", "devstack", "status"], capture_output=True, text=True)
        assert status.returncode == 3
        assert f"{stall_probe}: connector RUNNING, tasks [RUNNING]" in status.stdout
    finally:
        writing.set()
        writer.join(5)

"""register_connectors.py against a real MariaDB that is not configured for CDC."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from devstack.components.mariadb import MariaDbInstance
from tests.conftest import ROOT, connector_of

pytestmark = pytest.mark.stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def database_without_binlog(tmp_path, stack):
    db = MariaDbInstance(
        tmp_path,
        port=free_port(),
        include_cdc_cnf=False,
        name="plain-mariadb",
        extra_settings={"skip-log-bin": None, "binlog_format": "STATEMENT", "binlog_row_image": "MINIMAL"},
    )
    db.start()
    db.run_sql(
        "CREATE DATABASE order_db;"
        "CREATE TABLE order_db.outbox (id CHAR(36) PRIMARY KEY);"
        "CREATE USER 'cdc'@'%' IDENTIFIED BY 'cdc-test-password';"
        "GRANT SELECT ON order_db.* TO 'cdc'@'%';"
    )
    yield db
    db.stop()


def test_registration_fails_and_names_each_missing_setting(database_without_binlog):
    env = {**os.environ, "DB_PORT": str(database_without_binlog.port), "CDC_DB_PASSWORD": "cdc-test-password"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "register_connectors.py"), "--only", connector_of("order")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    failed = [line for line in result.stderr.splitlines() if "[FAILED]" in line]
    assert any(line.strip().startswith("[FAILED] log_bin") for line in failed)
    assert any("binlog_format" in line and "STATEMENT" in line for line in failed)
    assert any("binlog_row_image" in line and "MINIMAL" in line for line in failed)
    assert any("grants" in line and "REPLICATION SLAVE" in line for line in failed)
    assert "created" not in result.stdout and "updated" not in result.stdout


def test_dry_run_prints_the_effective_config_without_registering(stack, contexts):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "register_connectors.py"),
            "--dry-run",
            "--only",
            connector_of("order"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert '"connector.class": "io.debezium.connector.mariadb.MariaDbConnector"' in result.stdout
    assert '"database.password": "${env:CDC_DB_PASSWORD}"' in result.stdout
    assert "waiting for RUNNING" not in result.stdout


def test_the_kafka_check_names_what_a_single_development_broker_lacks(stack, connectors):
    script = str(ROOT / "scripts" / "register_connectors.py")
    result = subprocess.run(
        [sys.executable, script, "--check-kafka"], capture_output=True, text=True, timeout=120
    )
    if "3 brokers" in result.stdout:
        pytest.skip("the stack is a cluster (the cluster's tests check its preflight)")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "[FAILED] brokers: 1; run at least 3" in result.stderr
    assert "[FAILED] min.insync.replicas: 1; it must be at least 2" in result.stderr
    assert "[FAILED] topic order.events: 6 partitions, 1 replicas; wanted: at least 3" in result.stderr
    # What is right even on one broker is said to be (Kafka 4 keeps unclean election off).
    assert "[ok] unclean.leader.election.enable: false" in result.stdout
    # Registering on it is not refused: a single broker is a development stack, said in one line.
    registered = subprocess.run(
        [sys.executable, script, "--only", connector_of("order")], capture_output=True, text=True, timeout=300
    )
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert "1 broker (a development stack); --check-kafka lists what production needs" in registered.stdout

"""One shape of command line: every installed program answers ``--version`` under the name it is
installed as; exit codes mean the same everywhere (2 bad input, 1 something unavailable, 130
Ctrl-C); a timeout is honoured while a dependency is down; what shows state has ``--json``.

The programs run as installed (the virtualenv's console scripts), each in a process
of its own (tests/programs.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from outboxkit.cli.main import COMMANDS as LIBRARY_COMMANDS
from outboxkit.service.roster import outbox_connectors
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from services.points.commands import set_points
from tests.conftest import ROOT
from tests.programs import run_program as run

BIN = Path(sys.executable).parent
CLOSED = "127.0.0.1:1"
# Every address closed: what a program meets with the whole stack down.
ALL_DOWN = {
    "KAFKA_BOOTSTRAP_SERVERS": CLOSED,
    "SCHEMA_REGISTRY_URL": f"http://{CLOSED}/apis/ccompat/v7",
    "CONNECT_URL": f"http://{CLOSED}",
    "DB_HOST": "127.0.0.1",
    "DB_PORT": "1",
}


def installed_programs() -> list[str]:
    return sorted(
        entry.name
        for entry in metadata.entry_points(group="console_scripts")
        if entry.dist is not None and entry.dist.name in {"outboxkit", "outbox-cdc"}
    )


def test_the_installed_programs_are_the_documented_ones():
    programs = installed_programs()
    assert {"outboxkit", "stack"} <= set(programs)
    # The library's tools are subcommands of one program: no generic names on a user's PATH.
    assert not {"replay", "cdc", "topics", "register-connectors", "provision-databases"} & set(programs)
    assert {"order-service", "order-view", "order-api", "points-service"} <= set(programs)


@pytest.mark.parametrize("program", installed_programs())
def test_every_program_answers_version_under_its_installed_name(program):
    result = run(program, "--version", fresh_interpreter=True)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"{program} ") and f"outboxkit {metadata.version('outboxkit')}" in line, line


@pytest.mark.parametrize("command", list(LIBRARY_COMMANDS))
def test_every_library_command_answers_help_and_version_under_its_full_name(command):
    helped = run("outboxkit", command, "--help")
    assert helped.returncode == 0 and f"usage: outboxkit {command} " in helped.stdout, helped.stderr
    version = run("outboxkit", command, "--version")
    assert version.returncode == 0, version.stderr
    assert (
        version.stdout.startswith(f"outboxkit {command} ") and metadata.version("outboxkit") in version.stdout
    )


def test_outboxkit_lists_its_commands_and_refuses_an_unknown_one_in_one_line():
    listed = run("outboxkit", "--help")
    assert listed.returncode == 0 and all(f"  {c} " in listed.stdout for c in LIBRARY_COMMANDS), listed.stdout
    unknown = run("outboxkit", "replya", "order.events")
    assert unknown.returncode == 2 and unknown.stdout == "", unknown.stdout
    assert unknown.stderr.strip().splitlines() == [
        f"outboxkit: error: no command 'replya' (one of: {', '.join(LIBRARY_COMMANDS)}; see outboxkit --help)"
    ]
    bare = run("outboxkit")
    assert bare.returncode == 2 and "a command is needed" in bare.stderr


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["outboxkit", "provision-databases", "--help"], "usage: outboxkit provision-databases "),
        (
            ["outboxkit", "register-connectors", "--timeout", "-1"],
            "outboxkit register-connectors: error: argument --timeout",
        ),
        (["outboxkit", "replay", "--timeout", "0", "order.events"], "outboxkit replay: error: "),
    ],
)
def test_programs_call_themselves_by_their_installed_names(argv, says):
    result = run(*argv)
    assert says in result.stdout + result.stderr, result.stdout + result.stderr


def test_replay_gives_up_on_a_down_broker_within_its_timeout():
    started = time.monotonic()
    result = run("outboxkit", "replay", "order.events", "--timeout", "2", env=ALL_DOWN)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "broker unavailable" in result.stderr and "Traceback" not in result.stderr
    # The bound is generous (process start and imports on a busy machine); without the fix the
    # broker wait alone was 15 s.
    assert elapsed < 12, f"replay --timeout 2 took {elapsed:.1f}s"


def test_ctrl_c_ends_replay_at_once_even_while_the_broker_is_down():
    follow = subprocess.Popen(
        [str(BIN / "outboxkit"), "replay", "order.events", "--follow", "--timeout", "60"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ALL_DOWN},
    )
    time.sleep(3)
    interrupted_at = time.monotonic()
    follow.send_signal(signal.SIGINT)
    _out, err = follow.communicate(timeout=30)
    assert follow.returncode == 130, err
    assert "Traceback" not in err
    assert time.monotonic() - interrupted_at < 10, "Ctrl-C was not answered promptly"


def test_topics_skew_with_kafka_down_is_unavailable_not_bad_input():
    result = run("outboxkit", "topics", "skew", "order.events", "--timeout", "2", env=ALL_DOWN)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "unavailable" in result.stderr


def test_stack_logs_of_an_unknown_part_is_bad_input():
    result = run("stack", "logs", "nosuch")
    assert result.returncode == 2 and "no component named 'nosuch'" in result.stderr
    assert "Traceback" not in result.stderr


def test_register_connectors_dry_run_prints_the_configs_without_a_database():
    result = run("outboxkit", "register-connectors", "--dry-run", env=ALL_DOWN)
    assert result.returncode == 0, result.stderr
    configs = json.loads(result.stdout)
    assert sorted(c["name"] for c in configs) == sorted(d.name for d in outbox_connectors())
    for entry in configs:
        config = entry["config"]
        assert config["connector.class"] == "io.debezium.connector.mariadb.MariaDbConnector"
        assert config["transforms.outbox.type"] == "io.debezium.transforms.outbox.EventRouter"
        # Connect resolves the reference itself: the config names where the password comes from.
        assert config["database.password"] == "${env:CDC_DB_PASSWORD}"
    literal = run(
        "outboxkit", "register-connectors", "--dry-run", "--set", "database.password=s3cret", env=ALL_DOWN
    )
    assert literal.returncode == 0, literal.stderr
    assert "s3cret" not in literal.stdout  # a password written into the config is never printed
    assert {c["config"]["database.password"] for c in json.loads(literal.stdout)} == {"********"}
    mysql = json.loads(
        run("outboxkit", "register-connectors", "--dry-run", "--server", "mysql", env=ALL_DOWN).stdout
    )
    assert {c["config"]["connector.class"] for c in mysql} == {"io.debezium.connector.mysql.MySqlConnector"}


def test_a_service_without_an_outbox_offers_no_outbox_pruning():
    assert run("order-service", "prune-outbox", "--help").returncode == 0
    refused = run("order-view", "prune-outbox")
    assert refused.returncode == 2 and "invalid choice: 'prune-outbox'" in refused.stderr


def test_stack_status_json_on_a_machine_with_no_stack(tmp_path):
    result = run("stack", "status", "--json", env={"STACK_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 3, result.stderr
    document = json.loads(result.stdout)
    assert document["healthy"] is False and document["connectors"] == []
    assert {part["name"]: part["state"] for part in document["parts"]} == {
        "mariadb": "down",
        "kafka": "down",
        "registry": "down",
        "connect": "down",
        "cdc-supervisor": "down",
    }


# ----- on the stack: --json wherever a command shows state ----------------------------------------


@pytest.mark.stack
def test_stack_status_json_when_all_is_up(stack, connectors):
    if stack.name != "native":
        pytest.skip("`stack` runs the native stack")
    # A connector restarted with the stack runs at once but streams a few seconds later.
    deadline = time.monotonic() + 90
    while True:
        result = run("stack", "status", "--json")
        document = json.loads(result.stdout)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert result.returncode == 0 and document["healthy"] is True, result.stdout
    assert {part["state"] for part in document["parts"]} == {"up"}
    assert {c["name"] for c in document["connectors"]} == {d.name for d in outbox_connectors()}


@pytest.mark.stack
def test_topics_skew_json(stack, connectors):
    result = run("outboxkit", "topics", "skew", "order.events", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["topic"] == "order.events" and document["partitions"], document


@pytest.mark.stack
def test_register_connectors_status_json(stack, connectors):
    result = run("outboxkit", "register-connectors", "--status", "--json")
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)["connectors"]
    assert {r["name"] for r in reports} == {d.name for d in outbox_connectors()}
    assert all(r["healthy"] for r in reports), reports


@pytest.mark.stack
def test_saga_and_balance_json(stack, contexts):
    order = place_order(contexts["order"].uow_factory, "json-cli", [OrderLine("SKU-JSON", 1, 100)])
    saga = run("order-service", "saga", order.id, "--json")
    assert saga.returncode == 0, saga.stderr
    document = json.loads(saga.stdout)
    assert document["orderId"] == order.id and document["flow"] == order.flow
    assert document["status"] in {status.value for status in OrderStatus}

    set_points(contexts["points"].uow_factory, "json-cli", 1234)
    balance = run("points-service", "balance", "json-cli", "--json")
    assert balance.returncode == 0, balance.stderr
    assert json.loads(balance.stdout) == {"customerId": "json-cli", "points": 1234}

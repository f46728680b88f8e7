"""Every place a person types answers a mistake with one line, a non-zero exit and no write.

The commands run as a person runs them (a subprocess each). "Down" parts are simulated by
pointing a setting at a closed port: the same code path as the part being stopped.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from outboxkit.kafka.replay import EventTap
from outboxkit.service.roster import outbox_connectors
from services.inventory.tables import products
from services.order.commands import place_order
from services.order.domain import OrderLine
from services.order.tables import orders
from tests.conftest import ROOT, connector_of, read_until_sentinel, recently
from tests.programs import run_program as run

CLOSED_PORT = "1"


def service(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run("-m", f"services.{name}.main", *args, env=env)


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, lines
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


LONG_SKU = "S" * 100


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["place", "--customer", "a", "--line", "A:2147483648:1"],
            ["quantity of A must be between 1 and 2147483647, got 2147483648"],
        ),
        (
            ["place", "--customer", "a", "--line", "A:1:99999999999999999999"],
            ["unit price of A (cents) must be between 0 and 9223372036854775807"],
        ),
        (["place", "--customer", "a", "--line", "A:x:1"], ["quantity and price must be whole numbers"]),
        (["place", "--customer", "a", "--line", "A:1"], ["is not SKU:QUANTITY:UNIT_PRICE_CENTS"]),
        (["place", "--customer", "a" * 65, "--line", "A:1:1"], ["customer id must be at most 64 characters"]),
        (["place", "--customer", "a", "--line", f"{LONG_SKU}:1:1"], ["sku must be at most 64 characters"]),
        (
            ["place", "--customer", "a", "--line", "A:1:1", "--currency", "EURO"],
            ["currency must be a 3-letter"],
        ),
        (
            ["place", "--customer", "a", "--line", "A:1:1", "--flow", "sideways"],
            ["argument --flow: invalid choice"],
        ),
        (["saga"], ["the following arguments are required: order_id"]),
        (
            [
                "place",
                "--customer",
                "a",
                "--line",
                "A:3074457345618258603:1",
                "--line",
                "B:1:9223372036854775807",
            ],
            ["quantity of A must be between 1 and 2147483647"],
        ),
        (["cancel"], ["the following arguments are required: order_id"]),
        (["no-such-command"], ["invalid choice"]),
    ],
)
def test_order_service_refuses_bad_arguments_before_any_io(args, fragments):
    # DB_PORT points nowhere: had anything been tried, the error would be "database unavailable".
    assert_one_line(service("order", *args, env={"DB_PORT": CLOSED_PORT}), 2, *fragments)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["set-stock", LONG_SKU, "1"], ["sku must be at most 64 characters, got 100"]),
        (
            ["set-stock", "A", "2147483648"],
            ["available stock must be between 0 and 2147483647, not 2147483648"],
        ),
        (["set-stock", "A", "-1"], ["available stock must be between 0 and 2147483647, not -1"]),
        (["set-stock", "", "1"], ["sku must not be empty"]),
        (["set-stock", "A", "lots"], ["'lots' is not a whole number"]),
        (["dlq", "reinject"], ["one of the arguments --all --key --event-id is required"]),
        (["rewind"], ["one of the arguments --to-start --to-time is required"]),
        (["rewind", "--to-time", "yesterday"], ["'yesterday' is not a time"]),
        (
            ["rewind", "--to-start", "--topic", "payment.events"],
            [
                "inventory-service does not consume payment.events (it consumes order.events, "
                "inventory.commands)"
            ],
        ),
    ],
)
def test_inventory_service_refuses_bad_arguments_before_any_io(args, fragments):
    assert_one_line(service("inventory", *args, env={"DB_PORT": CLOSED_PORT}), 2, *fragments)


@pytest.mark.parametrize(
    ("service_name", "setting", "value", "fragment"),
    [
        ("order", "ORDER_SAGA_TIMEOUT_S", "abc", "ORDER_SAGA_TIMEOUT_S='abc' is not a number"),
        ("order", "ORDER_SAGA_TIMEOUT_S", "0", "ORDER_SAGA_TIMEOUT_S='0' is out of range: it must be more"),
        ("order", "ORDER_SAGA_FLOW", "sideways", "ORDER_SAGA_FLOW='sideways' is not choreographed or"),
        ("order", "ORDER_SAGA_STEP_TIMEOUT_S", "-1", "ORDER_SAGA_STEP_TIMEOUT_S='-1' is out of range"),
        ("order", "DB_PORT", "abc", "DB_PORT='abc' is not an integer"),
        ("inventory", "DB_PORT", "70000", "DB_PORT='70000' is out of range: it must be between 1 and 65535"),
        ("inventory", "CONSUMER_BATCH_SIZE", "0", "CONSUMER_BATCH_SIZE='0' is out of range"),
        ("inventory", "DB_LOCK_WAIT_TIMEOUT_S", "soon", "DB_LOCK_WAIT_TIMEOUT_S='soon' is not an integer"),
        ("inventory", "HEALTH_PORT", "-5", "HEALTH_PORT='-5' is out of range"),
        ("payment", "PAYMENT_DECLINE_RATE", "2", "PAYMENT_DECLINE_RATE='2' is out of range"),
        ("payment", "PAYMENT_LATENCY_MS", "x", "PAYMENT_LATENCY_MS='x' is not a number"),
        ("payment", "SCHEMA_REGISTRY_URL", "localhost:8081", "SCHEMA_REGISTRY_URL='localhost:8081' is not"),
    ],
)
def test_a_malformed_setting_stops_the_service_with_one_line(service_name, setting, value, fragment):
    assert_one_line(service(service_name, "run", env={setting: value}), 2, fragment)


@pytest.mark.parametrize(
    ("args", "env", "code", "fragment"),
    [
        (["--port", "99999"], {}, 2, "argument --port: must be at most 65535, not 99999"),
        (["--port", "http"], {}, 2, "argument --port: 'http' is not a port number"),
        ([], {"ORDER_SAGA_FLOW": "sideways"}, 2, "ORDER_SAGA_FLOW='sideways' is not choreographed or"),
        ([], {"DB_PORT": CLOSED_PORT}, 1, "database unavailable"),
    ],
)
def test_the_order_api_refuses_a_bad_start_with_one_line(args, env, code, fragment):
    assert_one_line(service("order_api", *args, env=env), code, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["rebuild", "--now"], "unrecognized arguments: --now"),
        (["rebuild"], "refusing without --yes (standard input is not a terminal)"),
    ],
)
def test_order_view_refuses_a_bad_rebuild_with_one_line(stack, args, fragment):
    result = subprocess.run(
        [sys.executable, "-m", "services.order_view.main", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert_one_line(result, 2, fragment)


@pytest.mark.stack
def test_a_service_command_with_the_database_down_is_one_line(stack):
    result = service("inventory", "set-stock", "A", "1", env={"DB_PORT": CLOSED_PORT})
    assert_one_line(result, 1, "database unavailable", "is it running where DB_HOST and DB_PORT say?")


@pytest.mark.stack
def test_cancelling_a_confirmed_order_is_refused_with_its_state(order_context):
    order = place_order(order_context.uow_factory, "done", [OrderLine("SKU-C", 1, 1)])
    with order_context.engine.begin() as connection:
        connection.execute(orders.update().where(orders.c.id == order.id).values(status="CONFIRMED"))
    assert_one_line(
        service("order", "cancel", order.id), 2, f"order {order.id} cannot be cancelled: it is CONFIRMED"
    )
    assert_one_line(service("order", "cancel", "no-such-order"), 2, "no order no-such-order")


@pytest.mark.stack
def test_set_stock_says_what_it_set_and_writes_nothing_when_refused(contexts):
    ok = service("inventory", "set-stock", "SKU-SET", "12")
    assert ok.returncode == 0 and ok.stdout.strip() == "SKU-SET: available 12, reserved 0"
    refused = service("inventory", "set-stock", "", "3")
    assert refused.returncode == 2
    with contexts["inventory"].engine.connect() as connection:
        assert connection.execute(select(func.count()).where(products.c.sku == "")).scalar() == 0


@pytest.fixture(scope="module")
def published_order(contexts, connectors, settings) -> None:
    """order.events holds at least one event, so a replay has something to decode."""
    with EventTap(["order.events"], settings, since=recently()) as tap:
        read_until_sentinel(tap, contexts["order"])


@pytest.mark.stack
@pytest.mark.parametrize(
    ("args", "env", "code", "fragment"),
    [
        (["nosuch.events"], {}, 2, "no such topic: nosuch.events"),
        (["order.events", "--timeout", "0"], {}, 2, "the timeout must be more than 0 seconds"),
        (
            ["order.events"],
            {"SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{CLOSED_PORT}/apis/ccompat/v7"},
            1,
            "schema registry unavailable",
        ),
        (["order.events"], {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{CLOSED_PORT}"}, 1, "broker unavailable"),
    ],
)
def test_replay_answers_in_one_line(stack, published_order, args, env, code, fragment):
    result = run("-m", "outboxkit.cli.replay", *args, env=env)
    assert_one_line(result, code, fragment)
    assert len(result.stderr.splitlines()) <= 3  # not a line per undecodable record


@pytest.mark.stack
def test_ctrl_c_ends_replay_follow_quietly(stack, connectors):
    follow = subprocess.Popen(
        [sys.executable, "-m", "outboxkit.cli.replay", "order.events", "--follow"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(5)
    follow.send_signal(signal.SIGINT)
    _out, err = follow.communicate(timeout=30)
    assert follow.returncode == 130, err  # Ctrl-C, as everywhere; after the count of what it printed
    # (Undecodable records other tests left in the topic are reported on stderr too, one line each.)
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("-- ") and last.endswith(" events"), err[-2000:]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--rate", "0"], "argument --rate: must be more than 0, not 0"),
        (["--writers", "two"], "argument --writers: 'two' is not a number"),
        (["--instances", "shipping=2"], "--instances 'shipping=2' is not SERVICE=N"),
        (["--service-env", "NOEQUALS"], "--service-env 'NOEQUALS' is not KEY=VALUE"),
    ],
)
def test_the_benchmark_refuses_bad_arguments(args, fragment):
    assert_one_line(run("scripts/bench_saga.py", *args), 2, fragment)


@pytest.mark.parametrize(
    ("args", "env", "code", "fragment"),
    [
        (["--timeout", "-1"], {}, 2, "argument --timeout: must be more than 0, not -1"),
        (["--status", "--stale-after", "x"], {}, 2, "argument --stale-after: 'x' is not a number"),
        # It creates the topics and checks the database before Connect: those must answer.
        pytest.param(
            [],
            {"CONNECT_URL": f"http://127.0.0.1:{CLOSED_PORT}"},
            1,
            "Kafka Connect unavailable",
            marks=pytest.mark.stack,
        ),
    ],
)
def test_register_connectors_answers_in_one_line(args, env, code, fragment, request):
    if request.node.get_closest_marker("stack"):
        request.getfixturevalue("stack")
    assert_one_line(run("scripts/register_connectors.py", *args, env=env), code, fragment)


@pytest.mark.stack
def test_status_with_connect_down_still_reads_each_connectors_offset(stack, connectors):
    """--status (like `outboxkit cdc status` and `stack status`) reads the offsets from Kafka when Connect
    does not answer: a stopped Connect's binlog headroom still counts down."""
    result = run(
        "scripts/register_connectors.py", "--status", env={"CONNECT_URL": f"http://127.0.0.1:{CLOSED_PORT}"}
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    connectors_count = len(outbox_connectors())
    assert result.stderr.count("Kafka Connect does not answer: NOT STREAMING") == connectors_count
    assert result.stderr.count("(offset read from connect-offsets)") == connectors_count


# Stands for the connector that publishes the order service's outbox (its name is the layout's).
ORDER = object()


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        ([], 2, "the following arguments are required: COMMAND"),
        (["status", "no-such"], 2, "no connector named no-such"),
        (["pause"], 2, "name a connector"),
        (["pause", "--all", ORDER], 2, "name connectors or pass --all, not both"),
        (["verify", ORDER, "--since", "yesterday"], 2, "'yesterday' is not a time"),
        (
            ["verify", ORDER, "--since", "2026-01-02", "--until", "2026-01-01"],
            2,
            "must be before --until",
        ),
        (["verify", "no-such"], 2, "no connector named no-such"),
        (["recover", ORDER, "--since", "x"], 2, "'x' is not a time"),
        (["status", "--warn-below", "-5"], 2, "must be more than 0"),
    ],
)
def test_cdc_answers_a_mistake_in_one_line(stack, connectors, args, code, fragment):
    named = [connector_of("order") if arg is ORDER else arg for arg in args]
    assert_one_line(run("-m", "outboxkit.cli.cdc", *named), code, fragment)


@pytest.mark.stack
def test_cdc_with_connect_down_is_one_line(stack):
    result = run(
        "-m", "outboxkit.cli.cdc", "pause", "--all", env={"CONNECT_URL": f"http://127.0.0.1:{CLOSED_PORT}"}
    )
    assert_one_line(result, 1, "Kafka Connect unavailable")

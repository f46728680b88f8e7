"""Outbox rows are kept after publishing and pruned by a retention job that cannot lose events."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import select, text

from outboxkit.cdc.connect_client import ConnectClient
from services.order.commands import place_order
from services.order.domain import OrderLine
from services.order.tables import messaging
from tests.conftest import connector_of, events_for, read_until_sentinel, wait_until

pytestmark = pytest.mark.stack
outbox = messaging.outbox


def outbox_ids(order_context, keys: list[str]) -> set[str]:
    with order_context.engine.connect() as connection:
        query = select(outbox.c.aggregateid).where(outbox.c.aggregateid.in_(keys))
        return {row.aggregateid for row in connection.execute(query)}


def prune(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.order.main", "prune-outbox", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def test_prune_deletes_only_rows_past_retention_and_publishes_nothing(order_context, order_tap, settings):
    old, recent = (
        place_order(order_context.uow_factory, "retention", [OrderLine("SKU-P", 1, 10)]).id for _ in range(2)
    )
    read_until_sentinel(order_tap, order_context)  # both published
    # Published long ago, as far as the retention job can tell (Debezium skips outbox updates).
    with order_context.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outbox SET occurred_at = UTC_TIMESTAMP(6) - INTERVAL 10 DAY WHERE aggregateid = :id"
            ),
            {"id": old},
        )

    result = prune("--days", "7", "--yes")
    assert result.returncode == 0, result.stderr
    assert f"{connector_of('order')} has published everything that occurred before" in result.stdout
    assert "deleted" in result.stdout and "outbox row(s) from order_db" in result.stdout

    assert outbox_ids(order_context, [old, recent]) == {recent}
    # The delete reaches the binlog, and the Outbox Event Router drops it: each order still has
    # exactly its one OrderCreated, no tombstone, no copy, and the connector keeps running.
    records = events_for(read_until_sentinel(order_tap, order_context), {old, recent})
    assert sorted((r.key, r.event_type) for r in records) == sorted(
        [(old, "OrderCreated"), (recent, "OrderCreated")]
    )
    state = ConnectClient(settings.connect_url).state(connector_of("order"))
    assert state is not None and state.running, state


def test_prune_never_deletes_what_the_connector_has_not_published(order_context, settings):
    client = ConnectClient(settings.connect_url)
    assert client._call("PUT", f"/connectors/{connector_of('order')}/pause").status_code == 202
    try:
        wait_until(
            lambda: (s := client.state(connector_of("order"))) is not None and s.connector_state == "PAUSED",
            60,
            "the connector to pause",
        )
        unpublished = place_order(order_context.uow_factory, "unpublished", [OrderLine("SKU-P", 1, 10)]).id
        time.sleep(2)
        # Two seconds old, retention 0.86 s: past retention, but Debezium has not read it.
        result = prune("--days", "0.00001", "--yes")
        assert result.returncode == 0, result.stderr
        assert "not confirmed publishing yet" in result.stdout
        assert outbox_ids(order_context, [unpublished]) == {unpublished}
    finally:
        client._call("PUT", f"/connectors/{connector_of('order')}/resume")
        client.wait_until_running(connector_of("order"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "-1"], "retention must be more than 0 days, not -1"),
        (["--days", "0"], "retention must be more than 0 days, not 0"),
        (["--days", "soon"], "'soon' is not a number of days"),
    ],
)
def test_prune_refuses_a_retention_that_is_not_positive(args, message):
    result = prune(*args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_prune_asks_first_and_refuses_without_a_terminal_unless_told_yes(order_context, order_tap):
    old = place_order(order_context.uow_factory, "retention", [OrderLine("SKU-P", 1, 10)]).id
    read_until_sentinel(order_tap, order_context)
    with order_context.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outbox SET occurred_at = UTC_TIMESTAMP(6) - INTERVAL 10 DAY WHERE aggregateid = :id"
            ),
            {"id": old},
        )
    result = prune("--days", "7", stdin="")
    assert result.returncode == 2
    assert "refusing without --yes (standard input is not a terminal)" in result.stderr
    assert "row(s) to delete" in result.stdout  # it showed what it would delete first
    assert outbox_ids(order_context, [old]) == {old}


def test_prune_with_the_database_down_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "services.order.main", "prune-outbox", "--yes"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "DB_PORT": "1"},
    )
    assert result.returncode == 1
    assert "database unavailable" in result.stderr and "Traceback" not in result.stderr

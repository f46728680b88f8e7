"""Outbox rows are kept after publishing and pruned by a retention job; pruning publishes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select, text

from eventcore.cdc.connect_client import ConnectClient
from services.order.commands import place_order
from services.order.domain import OrderLine
from services.order.tables import outbox
from tests.conftest import events_for, read_until_sentinel

pytestmark = pytest.mark.stack


def outbox_ids(order_context, keys: list[str]) -> set[str]:  # type: ignore[no-untyped-def]
    with order_context.engine.connect() as connection:
        query = select(outbox.c.aggregateid).where(outbox.c.aggregateid.in_(keys))
        return {row.aggregateid for row in connection.execute(query)}


def test_prune_deletes_only_rows_past_retention_and_publishes_nothing(order_context, order_tap, settings):
    old, recent = (place_order(order_context.uow_factory, "retention", [OrderLine("SKU-P", 1, 10)]).id
                   for _ in range(2))
    # Published long ago, as far as the retention job can tell (Debezium skips outbox updates).
    with order_context.engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET occurred_at = UTC_TIMESTAMP(6) - INTERVAL 10 DAY "
                                "WHERE aggregateid = :id"), {"id": old})

    result = subprocess.run([sys.executable, "-m", "eventcore.outbox", "prune", "order", "--days", "7"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pruned" in result.stderr and "older than 7.0 days from order_db" in result.stderr

    assert outbox_ids(order_context, [old, recent]) == {recent}
    # The delete reaches the binlog, and the Outbox Event Router drops it: each order still has
    # exactly its one OrderCreated, no tombstone, no copy, and the connector keeps running.
    records = events_for(read_until_sentinel(order_tap, order_context), {old, recent})
    assert sorted((r.key, r.event_type) for r in records) == sorted([(old, "OrderCreated"),
                                                                    (recent, "OrderCreated")])
    state = ConnectClient(settings.connect_url).state("order-outbox")
    assert state is not None and state.running, state

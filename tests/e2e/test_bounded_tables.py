"""Bounded tables: a running service prunes its inbox and its published outbox rows by itself, an
operator's rewind past the inbox horizon is refused until asked for, and a topic replayed from
its start into a group whose inbox was pruned applies nothing twice (the version guard)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import delete, select

from outboxkit.kafka.clients import consumer_config, partitions_of
from outboxkit.kafka.replay import EventTap
from services.inventory.tables import messaging as inventory_messaging
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from services.order.tables import messaging as order_messaging
from tests.conftest import wait_until
from tests.e2e.conftest import ServiceProcess, swapped_service
from tests.e2e.probes import new_sku, pending_dead_letters, service_command, stock, wait_final

pytestmark = pytest.mark.stack
GROUP = "inventory-service"
# A receipt or a published row older than about a second goes; the pruning runs every second.
IMPATIENT = {"INBOX_RETENTION_DAYS": "0.00001", "OUTBOX_RETENTION_DAYS": "0.00001", "PRUNE_EVERY_S": "1"}


def created_event_ids(ctx, orders: list[str]) -> list[str]:
    outbox = order_messaging.outbox
    with ctx["order"].engine.connect() as connection:
        return list(
            connection.execute(
                select(outbox.c.id).where(outbox.c.aggregateid.in_(orders), outbox.c.type == "OrderCreated")
            ).scalars()
        )


def receipts(ctx, event_ids: list[str]) -> list[str]:
    """The outcomes inventory recorded for these events ('applied', 'stale')."""
    inbox = inventory_messaging.inbox
    with ctx["inventory"].engine.connect() as connection:
        return list(
            connection.execute(
                select(inbox.c.outcome).where(
                    inbox.c.consumer_group == GROUP, inbox.c.event_id.in_(event_ids)
                )
            ).scalars()
        )


def inventory_outbox_rows(ctx, orders: list[str]) -> int:
    outbox = inventory_messaging.outbox
    with ctx["inventory"].engine.connect() as connection:
        return len(connection.execute(select(outbox.c.id).where(outbox.c.aggregateid.in_(orders))).all())


def committed(settings) -> dict[tuple[str, int], int]:
    reader = Consumer(consumer_config(settings.kafka_bootstrap_servers, GROUP))
    try:
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in reader.committed(partitions_of(reader, ["order.events"]), timeout=10)
        }
    finally:
        reader.close()


def test_pruned_tables_and_a_replay_from_the_start_past_the_horizon(ctx, services, settings):
    started = datetime.now(UTC)
    sku = new_sku(ctx, 100)
    with swapped_service(services, "inventory", **IMPATIENT) as impatient:
        orders = [
            place_order(ctx["order"].uow_factory, "pruned", [OrderLine(sku, 2, 100)]).id for _ in range(3)
        ]
        for order_id in orders:
            assert wait_final(ctx, order_id, 120) is OrderStatus.CONFIRMED
        created = created_event_ids(ctx, orders)
        assert len(created) == len(orders)
        # Nobody types a command: the running service prunes what it no longer needs.
        # (Outbox rows wait out the minute of margin kept behind the connector's committed position.)
        wait_until(
            lambda: not receipts(ctx, created) and not inventory_outbox_rows(ctx, orders),
            180,
            "inventory to prune its receipts and its published outbox rows",
        )
        assert "inventory-service: pruned" in impatient.log_text()
    held = stock(ctx, sku)
    assert held == (94, 6)

    assert services["inventory"].stop() == 0
    owed_before = {row.id for row in pending_dead_letters(ctx, "inventory")}
    try:
        before = committed(settings)
        refused = service_command("inventory", "rewind", "--to-start", "--topic", "order.events", "--yes")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "go past the inbox horizon" in refused.stderr and "--past-horizon" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert committed(settings) == before  # refused: nothing written
        rewound = service_command(
            "inventory", "rewind", "--to-start", "--topic", "order.events", "--past-horizon", "--yes"
        )
        assert rewound.returncode == 0, rewound.stdout + rewound.stderr
        assert "warning:" in rewound.stdout and "the version guard alone" in rewound.stdout
        reader = Consumer(consumer_config(settings.kafka_bootstrap_servers, "rewind-check"))
        starts = {key: reader.get_watermark_offsets(TopicPartition(*key), timeout=10)[0] for key in before}
        reader.close()
        assert committed(settings) == starts
    finally:
        services["inventory"] = ServiceProcess("inventory").start()

    # The whole topic again, our orders last: each of their OrderCreated meets the version guard.
    wait_until(
        lambda: sorted(receipts(ctx, created)) == ["stale"] * len(created),
        600,
        "inventory to read order.events again up to these orders",
    )
    assert stock(ctx, sku) == held  # nothing reserved twice
    with EventTap(["inventory.events"], settings, since=started) as tap:
        tap.wait_for(lambda _events: tap.at_end(), 60)
        reserved = [e for e in tap.events if e.key in orders]
    assert sorted(e.key or "" for e in reserved if e.event_type == "StockReserved") == sorted(orders)
    # The replay also met other tests' poison records (and keys parked behind them) again: what it
    # dead-lettered is not this test's to leave behind for the tests that count dead letters.
    dead_letters = inventory_messaging.dead_letters
    with ctx["inventory"].engine.begin() as connection:
        new = [row.id for row in pending_dead_letters(ctx, "inventory") if row.id not in owed_before]
        if new:
            connection.execute(delete(dead_letters).where(dead_letters.c.id.in_(new)))

"""The choreographed saga across three real service processes, on the real stack."""

from __future__ import annotations

import json
import re
import signal
import uuid
from datetime import timedelta

import pytest
from confluent_kafka import Consumer, Producer
from sqlalchemy import select

from devstack.drills import drill_env
from outboxkit.base.messages import OutboxEvent
from outboxkit.dead_letters.queue import (
    H_ATTEMPTS,
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_OFFSET,
    H_PARKED_BEHIND,
    H_PARTITION,
    H_TOPIC,
)
from outboxkit.kafka.clients import consumer_config, producer_config
from outboxkit.kafka.partitioning import partition_for
from outboxkit.kafka.records import Record
from outboxkit.kafka.replay import EventTap
from outboxkit.serialization.avro import EventSchema, SchemaCatalog
from services import SCHEMAS
from services.instances import GroupLagProbe
from services.inventory.tables import reservations
from services.order.commands import cancel_timed_out, place_order
from services.order.domain import Order, OrderLine, OrderStatus
from services.order.main import SERVICE as ORDER_SERVICE
from services.payment.tables import payments
from tests.conftest import recently, wait_until
from tests.e2e.conftest import ServiceProcess
from tests.e2e.probes import (
    FINAL,
    committed_offset,
    dead_letters,
    new_sku,
    payment_rows,
    pending_dead_letters,
    reinject,
    reservation_status,
    service_command,
    status,
    stock,
    wait_dead_letters,
    wait_final,
)

pytestmark = pytest.mark.stack


def test_happy_path_confirms_decrements_stock_once_and_charges_once(ctx):
    sku = new_sku(ctx, 10)
    order = place_order(ctx["order"].uow_factory, "happy", [OrderLine(sku, 3, 1000)])

    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
    assert stock(ctx, sku) == (7, 3)
    rows = payment_rows(ctx, order.id)
    assert [(r.status, r.amount_cents) for r in rows] == [("COMPLETED", 3000)]


def test_once_the_flow_is_done_every_group_has_committed_to_the_end_of_its_topics(ctx, settings):
    """Connect publishes in transactions (exactly-once): each ends with a marker that takes an
    offset no consumer receives. The groups still commit past them, or a finished flow would
    show a lag of one per transaction (and the saga deadlines would wait for it)."""
    sku = new_sku(ctx, 5)
    order = place_order(ctx["order"].uow_factory, "lag-zero", [OrderLine(sku, 1, 100)])
    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
    probe = GroupLagProbe(settings.kafka_bootstrap_servers)
    try:
        wait_until(lambda: not any(probe.lag().values()), 60, "every group's lag to be 0")
    finally:
        probe.close()


def test_not_enough_stock_cancels_without_payment_and_leaves_stock(ctx):
    sku = new_sku(ctx, 2)
    order = place_order(ctx["order"].uow_factory, "greedy", [OrderLine(sku, 5, 100)])

    assert wait_final(ctx, order.id) is OrderStatus.CANCELLED
    assert stock(ctx, sku) == (2, 0)
    # Payment only learns that the order was cancelled: it voids, never charges.
    wait_until(lambda: payment_rows(ctx, order.id) != [], 60, "payment to see the cancellation")
    assert [r.status for r in payment_rows(ctx, order.id)] == ["VOIDED"]


def test_declined_payment_cancels_and_releases_the_reserved_stock(ctx):
    sku = new_sku(ctx, 10)
    order = place_order(ctx["order"].uow_factory, "big-spender", [OrderLine(sku, 4, 20_000)])

    assert wait_final(ctx, order.id) is OrderStatus.CANCELLED
    assert [r.status for r in payment_rows(ctx, order.id)] == ["FAILED"]
    wait_until(lambda: reservation_status(ctx, order.id) == "RELEASED", 60, "stock release")
    assert stock(ctx, sku) == (10, 0)


def test_the_same_record_delivered_twice_has_one_effect(ctx, services, settings):
    sku = new_sku(ctx, 10)
    order = place_order(ctx["order"].uow_factory, "twice", [OrderLine(sku, 2, 100)])
    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED

    with EventTap(["order.events"], settings, since=recently()) as tap:
        tap.wait_for(lambda events: any(e.key == order.id for e in events), 60)
        original = next(e for e in tap.events if e.key == order.id and e.event_type == "OrderCreated")
    raw = Consumer(consumer_config(settings.kafka_bootstrap_servers, f"raw-{uuid.uuid4()}"))
    from confluent_kafka import TopicPartition

    raw.assign([TopicPartition("order.events", original.partition, original.offset)])
    message = raw.poll(10)
    raw.close()
    assert message is not None and Record.of(message).key == order.id
    producer = Producer(producer_config(settings.kafka_bootstrap_servers))
    copies = []
    producer.produce(
        "order.events",
        key=message.key(),
        value=message.value(),
        headers=message.headers(),
        on_delivery=lambda _err, msg: copies.append((msg.partition(), msg.offset())),
    )
    producer.flush(10)

    assert copies[0][0] == original.partition  # same key, same partition as Debezium chose
    wait_until(
        lambda: (
            committed_offset("inventory-service", "order.events", original.partition, settings)
            > (copies[0][1] or 0)
        ),
        60,
        "inventory to pass the copy",
    )
    assert stock(ctx, sku) == (8, 2)
    assert [r.status for r in payment_rows(ctx, order.id)] == ["COMPLETED"]
    wait_until(
        lambda: f"duplicate OrderCreated {original.event_id}" in services["inventory"].log_text(),
        30,
        "the copy to be counted as a duplicate",
    )


def test_sigkill_between_db_commit_and_offset_commit_does_not_double_apply(ctx, services, settings):
    services["inventory"].stop()
    sku = new_sku(ctx, 10)
    order = place_order(ctx["order"].uow_factory, "crash", [OrderLine(sku, 1, 100)])
    # The first instance applies one record, commits its transaction, then is SIGKILLed
    # before the offset is stored: the record will come again.
    drill = ServiceProcess("inventory", **drill_env(after_commits=1)).start()
    assert drill.wait_exit(120) == -signal.SIGKILL
    assert "failure drill: SIGKILL after DB commit" in drill.log_text()

    services["inventory"] = ServiceProcess("inventory").start()
    services["inventory"].wait_assigned()
    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
    assert stock(ctx, sku) == (9, 1)
    wait_until(
        lambda: "duplicate" in services["inventory"].log_text(),
        60,
        "the re-delivered record to be skipped as a duplicate",
    )


def test_an_undecodable_record_is_dead_lettered_its_key_parked_and_the_partition_moves_on(ctx, settings):
    sku = new_sku(ctx, 10)
    order_id = str(uuid.uuid4())
    partition = partition_for(order_id)
    neighbour_id = next(k for k in (str(uuid.uuid4()) for _ in range(1000)) if partition_for(k) == partition)
    producer = Producer(producer_config(settings.kafka_bootstrap_servers))
    producer.produce(
        "order.events",
        key=order_id.encode(),
        value=b"\x00\x00\x00\x00garbage-bytes",
        headers=[("id", str(uuid.uuid4())), ("eventType", "OrderCreated")],
    )
    producer.flush(10)
    # The same key's next record must not overtake the bad one: it is parked behind it.
    place_order(ctx["order"].uow_factory, "after-garbage", [OrderLine(sku, 1, 100)], order_id=order_id)
    # Another key on the same partition goes through: the partition did not stall.
    place_order(ctx["order"].uow_factory, "neighbour", [OrderLine(sku, 1, 100)], order_id=neighbour_id)

    assert wait_final(ctx, neighbour_id) is OrderStatus.CONFIRMED
    letters = wait_dead_letters(settings, "inventory-service", order_id)
    wait_until(
        lambda: len(dead_letters(settings, "inventory-service", order_id)) == 2,
        60,
        "the valid OrderCreated to be parked behind the garbage",
    )
    letters = dead_letters(settings, "inventory-service", order_id)
    garbage, parked = (letter.headers for letter in letters)
    assert letters[0].value == b"\x00\x00\x00\x00garbage-bytes"
    assert garbage[H_TOPIC] == "order.events" and int(garbage[H_PARTITION]) == partition
    assert garbage[H_ERROR_CLASS] in ("UnknownSchemaIdError", "UndecodableRecordError")
    assert int(garbage[H_OFFSET]) >= 0 and garbage[H_ATTEMPTS] == "1"
    assert garbage["eventType"] == "OrderCreated"  # the original headers are kept
    assert parked[H_ERROR_CLASS] == "Parked" and parked[H_PARKED_BEHIND] == garbage["id"]
    assert status(ctx, order_id) is OrderStatus.PENDING

    # Nothing will ever fix garbage: the operator purges it (that record alone)...
    purge = service_command("inventory", "dlq", "purge", "--event-id", garbage["id"], "--yes")
    assert purge.returncode == 0, purge.stderr
    assert "purged 1 dead letter(s)" in purge.stdout
    assert [r.event_id for r in pending_dead_letters(ctx, "inventory") if r.record_key == order_id] == [
        parked["id"]
    ]
    # ...then re-injects what waited behind it, which now goes through.
    again = reinject("inventory-service", order_id)
    assert again.returncode == 0, again.stderr
    assert wait_final(ctx, order_id) is OrderStatus.CONFIRMED
    assert [r for r in pending_dead_letters(ctx, "inventory") if r.record_key == order_id] == []


def test_two_instances_with_a_rebalance_mid_flow_keep_every_invariant(ctx, services):
    skus = {new_sku(ctx, 150): 150, new_sku(ctx, 150): 150}
    names = list(skus)
    extra: list[ServiceProcess] = []
    order_ids = []
    for n in range(500):
        sku = names[n % 2]
        price = 60_000 if n % 10 == 0 else 500  # every tenth order is declined (over the limit)
        order_ids.append(
            place_order(ctx["order"].uow_factory, f"load-{n % 13}", [OrderLine(sku, 1 + n % 2, price)]).id
        )
        if n == 120:
            extra = [ServiceProcess("inventory").start(), ServiceProcess("payment").start()]
        if n == 300:
            services["inventory"].stop()  # its partitions move to the second instance
            services["inventory"] = ServiceProcess("inventory").start()

    wait_until(
        lambda: all(status(ctx, oid) in FINAL for oid in order_ids),
        600,
        "all 500 orders to reach a final state",
    )
    for process in extra:
        assert process.stop() == 0

    statuses = {oid: status(ctx, oid) for oid in order_ids}
    for sku, initial in skus.items():
        assert sum(stock(ctx, sku)) == initial  # a reservation moves stock, never creates or loses it
    with ctx["payment"].engine.connect() as c:
        # order_id is the payments table's primary key: at most one payment per order.
        query = select(payments.c.order_id, payments.c.status).where(payments.c.order_id.in_(order_ids))
        rows = {r.order_id: r.status for r in c.execute(query)}
    confirmed = [oid for oid, s in statuses.items() if s is OrderStatus.CONFIRMED]
    cancelled = [oid for oid, s in statuses.items() if s is OrderStatus.CANCELLED]
    assert confirmed and cancelled
    assert all(rows.get(oid) == "COMPLETED" for oid in confirmed)
    assert not any(rows.get(oid) in ("COMPLETED", "REFUNDED") for oid in cancelled)

    # An order is CANCELLED as soon as the order service commits it; inventory releases the
    # stock when OrderCancelled reaches it, a moment later. So the held stock converges to
    # exactly the confirmed orders' quantities, and every other reservation ends released.
    def held_by() -> set[str]:
        with ctx["inventory"].engine.connect() as c:
            query = select(reservations.c.order_id).where(
                reservations.c.order_id.in_(order_ids), reservations.c.status == "RESERVED"
            )
            return {r.order_id for r in c.execute(query)}

    wait_until(
        lambda: held_by() == set(confirmed),
        120,
        "reservations of exactly the confirmed orders (cancelled ones released)",
    )
    reserved_total = sum(stock(ctx, sku)[1] for sku in skus)
    assert reserved_total == sum(1 + order_ids.index(oid) % 2 for oid in confirmed)


def test_late_success_after_a_timeout_is_refunded_once_and_the_order_stays_cancelled(ctx, services, settings):
    services["order"].stop()  # the order service is slow: replies pile up unread
    sku = new_sku(ctx, 10)
    order = place_order(ctx["order"].uow_factory, "late", [OrderLine(sku, 2, 700)])
    wait_until(
        lambda: [r.status for r in payment_rows(ctx, order.id)] == ["COMPLETED"],
        120,
        "the charge to complete while the order service is away",
    )

    # The saga's timeout fires first: the order is cancelled and compensation starts.
    assert cancel_timed_out(ctx["order"].uow_factory, timedelta(seconds=0)) >= 1
    assert status(ctx, order.id) is OrderStatus.CANCELLED

    services["order"] = ServiceProcess("order").start()
    services["order"].wait_assigned()
    wait_until(lambda: [r.status for r in payment_rows(ctx, order.id)] == ["REFUNDED"], 120, "refund")
    wait_until(lambda: reservation_status(ctx, order.id) == "RELEASED", 120, "stock release")
    # The late PaymentCompleted reaches the order service and finds the guard closed.
    wait_until(
        lambda: "PaymentCompleted ignored" in services["order"].log_text(),
        120,
        "the late success to be refused",
    )
    wait_until(
        lambda: re.search(r"refused=[1-9]", services["order"].log_text()) is not None,
        30,
        "the refusal to be counted in the service's stats line",
    )
    assert status(ctx, order.id) is OrderStatus.CANCELLED
    assert stock(ctx, sku) == (10, 0)
    with EventTap(["payment.events", "inventory.events"], settings, since=recently()) as tap:
        tap.wait_for(
            lambda events: (
                any(e.key == order.id and e.event_type == "StockReleased" for e in events) and tap.at_end()
            ),
            60,
        )
        compensations = [
            e.event_type
            for e in tap.events
            if e.key == order.id and e.event_type in ("PaymentRefunded", "StockReleased")
        ]
    assert sorted(compensations) == ["PaymentRefunded", "StockReleased"]


def test_a_compatible_writer_change_does_not_break_the_running_consumers(ctx, settings):
    """Partial rollout: the order service ships a new optional field before its consumers do."""
    current = SchemaCatalog.load(SCHEMAS)
    raw = json.loads(current.for_event_type("OrderCreated").text)
    raw["fields"].append({"name": "giftNote", "type": ["null", "string"], "default": None})
    newer = SchemaCatalog(
        [
            EventSchema.from_text(json.dumps(raw), "order"),
            *[s for s in current if s.event_type != "OrderCreated"],
        ]
    )
    new_writer = ORDER_SERVICE.context(settings, catalog=newer)
    sku = new_sku(ctx, 5)
    order = Order.place("rollout", [OrderLine(sku, 1, 100)])
    with new_writer.unit_of_work() as uow:
        [(version, created)] = order.pull_changes()
        uow.emit(
            OutboxEvent(
                "order",
                order.id,
                "OrderCreated",
                version,
                {**created.to_payload(), "giftNote": "happy birthday"},
            )
        )
        uow.orders.add(order)

    # Inventory and payment still run the old reader schema: the saga completes all the same.
    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
    assert stock(ctx, sku) == (4, 1)
    with EventTap(["order.events"], settings, catalog=newer, since=recently()) as tap:
        tap.wait_for(lambda events: any(e.key == order.id for e in events), 60)
        found = next(e for e in tap.events if e.key == order.id and e.event_type == "OrderCreated")
    assert found.value["giftNote"] == "happy birthday"  # a new reader sees the new field


def test_a_dead_lettered_record_is_reinjected_once_its_cause_is_fixed(ctx, settings, stack):
    sku = new_sku(ctx, 5)
    stack.run_sql("RENAME TABLE inventory_db.products TO inventory_db.products_away")
    try:
        order = place_order(ctx["order"].uow_factory, "unlucky", [OrderLine(sku, 1, 100)])
        letters = wait_dead_letters(settings, "inventory-service", order.id)
    finally:
        stack.run_sql("RENAME TABLE inventory_db.products_away TO inventory_db.products")
    assert letters, "the failing OrderCreated did not reach the dead-letter topic"
    headers = letters[0].headers
    assert "products" in headers[H_ERROR_MESSAGE]
    assert status(ctx, order.id) is OrderStatus.PENDING  # nothing was applied
    assert stock(ctx, sku) == (5, 0)

    result = reinject("inventory-service", order.id)
    assert result.returncode == 0, result.stderr
    assert "re-injected 1 record(s) from inventory-service.dlq" in result.stdout

    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
    assert stock(ctx, sku) == (4, 1)

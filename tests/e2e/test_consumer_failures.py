"""The consumer runtime's failure paths, provoked for real: row locks, exhausted retries,
offsets rewound by an operator, a crash after an outside call and before the commit."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from sqlalchemy import select

from devstack.drills import drill_env
from outboxkit.base.settings import Settings
from outboxkit.dead_letters.queue import H_ATTEMPTS, H_ERROR_CLASS, H_ERROR_MESSAGE
from outboxkit.kafka.clients import admin_client
from outboxkit.kafka.replay import EventTap
from services.inventory.tables import products
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from services.payment.gateway import ChargeLedger
from services.payment.settings import PaymentSettings
from tests.conftest import wait_until
from tests.e2e.conftest import ServiceProcess, swapped_service
from tests.e2e.probes import (
    committed_offset,
    dead_letters,
    new_sku,
    payment_rows,
    reinject,
    reservation_status,
    status,
    stock,
    wait_dead_letters,
    wait_final,
)

pytestmark = pytest.mark.stack

GROUP = "inventory-service"
LOCK_WAIT = "Lock wait timeout exceeded"


def test_a_row_lock_that_frees_is_retried_with_backoff_and_applied_once(ctx, services, settings):
    sku = new_sku(ctx, 10)
    with swapped_service(
        services, "inventory", DB_LOCK_WAIT_TIMEOUT_S="1", CONSUMER_RETRY_MAX_ATTEMPTS="10"
    ) as inventory:
        with ctx["inventory"].engine.connect() as blocker:
            # Another transaction holds the product row: the reservation waits 1 s, fails with
            # 1205 (transient), backs off and tries again.
            blocker.execute(select(products).where(products.c.sku == sku).with_for_update())
            order = place_order(ctx["order"].uow_factory, "blocked", [OrderLine(sku, 1, 100)])
            wait_until(lambda: LOCK_WAIT in inventory.log_text(), 60, "the reservation to hit the lock")
            blocker.rollback()

        assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
        assert stock(ctx, sku) == (9, 1)
        log = inventory.log_text()
        assert "OperationalError" in log and LOCK_WAIT in log
        # Tried again: on its own after a batch it was in failed, or with backoff if it was alone.
        assert "; retry 1 in " in log or "applying them one by one" in log
    assert dead_letters(settings, GROUP, order.id) == []


def test_a_lock_that_outlasts_the_retries_is_dead_lettered_and_reinjected_later(ctx, services, settings):
    sku = new_sku(ctx, 10)
    with swapped_service(services, "inventory", DB_LOCK_WAIT_TIMEOUT_S="1", CONSUMER_RETRY_MAX_ATTEMPTS="2"):
        with ctx["inventory"].engine.connect() as blocker:
            blocker.execute(select(products).where(products.c.sku == sku).with_for_update())
            stuck = place_order(ctx["order"].uow_factory, "stuck", [OrderLine(sku, 1, 100)])
            letters = wait_dead_letters(settings, GROUP, stuck.id)
            blocker.rollback()

        headers = letters[0].headers
        assert headers[H_ERROR_CLASS] == "OperationalError"
        assert "1205" in headers[H_ERROR_MESSAGE] and LOCK_WAIT in headers[H_ERROR_MESSAGE]
        assert headers[H_ATTEMPTS] == "2"
        assert status(ctx, stuck.id) is OrderStatus.PENDING  # the failed tries left nothing behind
        assert stock(ctx, sku) == (10, 0)

        # The partition did not stall on the failure: later orders go through.
        later = place_order(ctx["order"].uow_factory, "later", [OrderLine(sku, 2, 100)])
        assert wait_final(ctx, later.id) is OrderStatus.CONFIRMED

        result = reinject(GROUP, stuck.id)
        assert result.returncode == 0, result.stderr
        assert wait_final(ctx, stuck.id) is OrderStatus.CONFIRMED
        assert stock(ctx, sku) == (7, 3)


def test_offsets_rewound_by_an_operator_replay_records_without_a_second_effect(ctx, services, settings):
    sku = new_sku(ctx, 10)
    placed_at = datetime.now(UTC) - timedelta(seconds=5)
    order = place_order(ctx["order"].uow_factory, "rewound", [OrderLine(sku, 2, 100)])
    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
    with EventTap(["order.events"], settings, since=placed_at) as tap:
        tap.wait_for(
            lambda events: any(e.key == order.id and e.event_type == "OrderCreated" for e in events), 60
        )
        created = next(e for e in tap.events if e.key == order.id and e.event_type == "OrderCreated")

    assert services["inventory"].stop() == 0  # offsets of an empty group can be changed
    admin = admin_client(settings.kafka_bootstrap_servers)
    rewind = ConsumerGroupTopicPartitions(
        GROUP, [TopicPartition("order.events", created.partition, created.offset)]
    )

    def rewound() -> bool:
        try:
            for future in admin.alter_consumer_group_offsets([rewind]).values():
                future.result(timeout=30)
            return True
        except KafkaException as exc:  # the broker may not have seen the member leave yet
            print(f"offset reset refused, retrying: {exc}")
            return False

    wait_until(rewound, 60, f"the offsets of {GROUP} to be reset")
    assert committed_offset(GROUP, "order.events", created.partition, settings) == created.offset

    services["inventory"] = ServiceProcess("inventory").start()
    wait_until(
        lambda: committed_offset(GROUP, "order.events", created.partition, settings) > created.offset,
        120,
        "inventory to re-read the rewound partition",
    )
    wait_until(
        lambda: f"duplicate OrderCreated {created.event_id}" in services["inventory"].log_text(),
        60,
        "the replayed OrderCreated to be skipped as a duplicate",
    )
    assert stock(ctx, sku) == (8, 2)
    assert [r.status for r in payment_rows(ctx, order.id)] == ["COMPLETED"]


def test_a_crash_after_the_charge_and_before_the_commit_charges_once(ctx, services):
    assert services["payment"].stop() == 0
    sku = new_sku(ctx, 10)
    order = place_order(ctx["order"].uow_factory, "charged-then-crashed", [OrderLine(sku, 1, 2500)])
    wait_until(lambda: reservation_status(ctx, order.id) == "RESERVED", 60, "the stock reservation")

    # The gateway charges, then the process dies before its transaction commits: the payment
    # row and the PaymentCompleted outbox row are rolled back, the charge is not.
    drill = ServiceProcess("payment", **drill_env(before_commit=1)).start()
    assert drill.wait_exit(120) == -signal.SIGKILL
    assert "failure drill: SIGKILL before the DB commit of StockReserved" in drill.log_text()
    assert payment_rows(ctx, order.id) == []
    ledger = ChargeLedger(PaymentSettings.read(Settings.load()).gateway_ledger)
    charged = ledger.lookup(order.id)
    assert charged is not None and charged.calls == 1 and charged.result.approved

    # The record comes again; the same idempotency key gets the same charge back.
    services["payment"] = ServiceProcess("payment").start()
    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
    assert [(r.status, r.gateway_reference) for r in payment_rows(ctx, order.id)] == [
        ("COMPLETED", charged.result.reference)
    ]
    again = ledger.lookup(order.id)
    assert again is not None and again.calls == 2 and again.result == charged.result

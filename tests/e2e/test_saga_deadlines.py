"""The saga's timeout is about failed steps, not queues: a pipeline that is behind does not
cancel healthy orders, and a real stall still times out."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from tests.backends import StackBackend
from tests.conftest import wait_until
from tests.e2e.conftest import ServiceProcess, swapped_service
from tests.e2e.probes import new_sku, pending_dead_letters, service_command, status, wait_final

pytestmark = pytest.mark.stack
TIMEOUT_S = "4"


@pytest.fixture
def impatient_order_service(services) -> Iterator[ServiceProcess]:
    with swapped_service(services, "order", ORDER_SAGA_TIMEOUT_S=TIMEOUT_S) as order:
        yield order


def test_orders_waiting_in_a_backlog_are_not_timed_out(ctx, services, impatient_order_service):
    sku = new_sku(ctx, 10)
    log_before = len(impatient_order_service.log_text())
    assert services["inventory"].stop() == 0  # its records pile up: the pipeline is behind
    try:
        orders = [
            place_order(ctx["order"].uow_factory, "patient", [OrderLine(sku, 1, 100)]).id for _ in range(3)
        ]
        time.sleep(4 * float(TIMEOUT_S))  # four timeouts long
        assert [status(ctx, o) for o in orders] == [OrderStatus.PENDING] * 3
    finally:
        services["inventory"] = ServiceProcess("inventory").start()
    for order_id in orders:
        assert wait_final(ctx, order_id, 120) is OrderStatus.CONFIRMED
    log = impatient_order_service.log_text()[log_before:]
    assert "behind: saga deadlines are pushed back" in log
    wait_until(
        lambda: "the pipeline caught up" in impatient_order_service.log_text()[log_before:],
        60,
        "the sweep to see the pipeline caught up",
    )


def test_a_real_stall_still_times_out(ctx, stack: StackBackend, impatient_order_service):
    # The reservation fails for good (dead-lettered): nothing waits in any queue, yet no reply
    # will ever come. The saga must give up after its timeout.
    sku = new_sku(ctx, 5)
    trigger = f"stall_{uuid.uuid4().hex[:8]}"
    stack.run_sql(
        f"DELIMITER //\nCREATE TRIGGER inventory_db.{trigger} BEFORE UPDATE ON inventory_db.products "
        f"FOR EACH ROW IF NEW.sku = '{sku}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'stalled'; "
        "END IF//\nDELIMITER ;\n"
    )
    order = place_order(ctx["order"].uow_factory, "stalled", [OrderLine(sku, 1, 100)])
    try:
        wait_until(
            lambda: any(r.record_key == order.id for r in pending_dead_letters(ctx, "inventory")),
            60,
            "the reservation to be dead-lettered",
        )
        assert wait_final(ctx, order.id, 60) is OrderStatus.CANCELLED
    finally:
        stack.run_sql(f"DROP TRIGGER IF EXISTS inventory_db.{trigger}")
        # Leave no dead letter behind for the tests that list them.
        service_command("inventory", "dlq", "purge", "--key", order.id, "--yes")
    with ctx["order"].engine.connect() as connection:
        from services.order import repository

        stored = repository.get(connection, order.id)
    assert stored is not None and stored.cancel_reason == f"no reply within {TIMEOUT_S}s"

"""The orchestrated saga across the three real service processes, on the real stack."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from devstack.drills import drill_env
from outboxkit.base.settings import Settings
from services.contracts import ORCHESTRATED, StockReserved
from services.order import repository
from services.order.commands import on_stock_reserved, place_order
from services.order.domain import OrderLine, OrderStatus
from services.order.orchestration import order_saga
from services.payment.gateway import ChargeLedger
from services.payment.settings import PaymentSettings
from tests.conftest import ROOT, wait_until
from tests.e2e.conftest import ServiceProcess, swapped_service
from tests.e2e.probes import new_sku, payment_rows, reservation_status, stock, wait_final

pytestmark = pytest.mark.stack

SAGA = order_saga(60.0)


def place(ctx, customer: str, lines: list[OrderLine]) -> str:
    return place_order(ctx["order"].uow_factory, customer, lines, flow=ORCHESTRATED, saga=SAGA).id


def history(ctx, order_id: str) -> list[tuple[str, str, str, str]]:
    with ctx["order"].engine.connect() as connection:
        return [
            (h.trigger_name, h.from_state, h.to_state, h.commands)
            for h in repository.saga_history_of(connection, order_id)
        ]


def test_the_happy_path_reserves_charges_and_confirms_through_commands(ctx):
    sku = new_sku(ctx, 10)
    order_id = place(ctx, "orchestrated-happy", [OrderLine(sku, 3, 1000)])
    assert wait_final(ctx, order_id) is OrderStatus.CONFIRMED
    assert stock(ctx, sku) == (7, 3)
    assert [(r.status, r.amount_cents) for r in payment_rows(ctx, order_id)] == [("COMPLETED", 3000)]
    assert history(ctx, order_id) == [
        ("OrderPlaced", "-", "RESERVING", "ReserveStock"),
        ("StockReserved", "RESERVING", "CHARGING", "ChargePayment"),
        ("PaymentCompleted", "CHARGING", "COMPLETED", ""),
    ]


def test_a_stock_rejection_cancels_without_a_charge(ctx):
    sku = new_sku(ctx, 2)
    order_id = place(ctx, "orchestrated-greedy", [OrderLine(sku, 5, 100)])
    assert wait_final(ctx, order_id) is OrderStatus.CANCELLED
    assert payment_rows(ctx, order_id) == [] and stock(ctx, sku) == (2, 0)
    assert [h[0] for h in history(ctx, order_id)] == ["OrderPlaced", "StockRejected"]


def test_a_declined_payment_cancels_and_the_orchestrator_releases_the_stock(ctx):
    sku = new_sku(ctx, 10)
    order_id = place(ctx, "orchestrated-big-spender", [OrderLine(sku, 4, 20_000)])
    assert wait_final(ctx, order_id) is OrderStatus.CANCELLED
    assert [r.status for r in payment_rows(ctx, order_id)] == ["FAILED"]
    wait_until(lambda: reservation_status(ctx, order_id) == "RELEASED", 60, "stock release")
    assert stock(ctx, sku) == (10, 0)
    assert history(ctx, order_id)[-1] == ("PaymentFailed", "CHARGING", "CANCELLED", "ReleaseStock")


def test_a_payment_slower_than_its_deadline_is_refunded_once_and_the_order_stays_cancelled(ctx, services):
    sku = new_sku(ctx, 10)
    # Each step may take 3 s; the gateway takes 8 s. Lag does not excuse the slow step here.
    with (
        swapped_service(services, "payment", PAYMENT_LATENCY_MS="8000"),
        swapped_service(services, "order", ORDER_SAGA_STEP_TIMEOUT_S="3", ORDER_SAGA_LAG_ALLOWANCE_S="0"),
    ):
        order_id = place(ctx, "orchestrated-slow", [OrderLine(sku, 2, 500)])
        assert wait_final(ctx, order_id, 60) is OrderStatus.CANCELLED
        wait_until(
            lambda: [r.status for r in payment_rows(ctx, order_id)] == ["REFUNDED"],
            90,
            "the late charge to be refunded",
        )
        wait_until(
            lambda: any(h[0] == "PaymentCompleted" for h in history(ctx, order_id)),
            60,
            "the late PaymentCompleted to reach the orchestrator",
        )
    wait_until(lambda: reservation_status(ctx, order_id) == "RELEASED", 60, "stock release")
    assert stock(ctx, sku) == (10, 0)
    ledger = ChargeLedger(PaymentSettings.read(Settings.load()).gateway_ledger)
    charged = ledger.lookup(order_id)
    assert charged is not None and charged.calls == 1 and charged.result.approved
    # Refunded at the deadline's RefundPayment; the late success's own RefundPayment found the
    # payment refunded already: one refund made.
    assert ledger.refund_calls(f"refund-{order_id}") == 1
    steps = history(ctx, order_id)
    assert steps[:3] == [
        ("OrderPlaced", "-", "RESERVING", "ReserveStock"),
        ("StockReserved", "RESERVING", "CHARGING", "ChargePayment"),
        ("DeadlinePassed", "CHARGING", "CANCELLED", "RefundPayment,ReleaseStock"),
    ]
    assert ("PaymentCompleted", "CANCELLED", "CANCELLED", "RefundPayment") in steps
    printed = subprocess.run(
        [sys.executable, "-m", "services.order.main", "saga", order_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert "DeadlinePassed" in printed.stdout and "sent RefundPayment, ReleaseStock" in printed.stdout


def test_a_reply_for_a_state_that_moved_on_changes_nothing(ctx):
    sku = new_sku(ctx, 10)
    order_id = place(ctx, "orchestrated-late-reply", [OrderLine(sku, 1, 100)])
    assert wait_final(ctx, order_id) is OrderStatus.CONFIRMED
    before = history(ctx, order_id)
    outbox = ctx["order"].messaging.outbox
    count_rows = select(func.count()).select_from(outbox).where(outbox.c.aggregateid == order_id)
    with ctx["order"].engine.connect() as connection:
        rows_before = connection.execute(count_rows).scalar()
    with ctx["order"].unit_of_work() as uow:
        on_stock_reserved(uow, StockReserved(order_id, (), 100, "EUR", ORCHESTRATED))
    after = history(ctx, order_id)
    assert after[:-1] == before
    assert after[-1][:3] == ("StockReserved", "COMPLETED", "COMPLETED") and after[-1][3] == ""
    with ctx["order"].engine.connect() as connection:
        assert connection.execute(count_rows).scalar() == rows_before  # no command, no event
        order = repository.get(connection, order_id)
    assert order is not None and (order.status, order.version) == (OrderStatus.CONFIRMED, 3)


@pytest.mark.parametrize("drill", ["before_commit", "after_commits"])
def test_the_orchestrator_killed_around_a_reply_completes_after_restart_with_no_step_twice(
    ctx, services, drill
):
    assert services["order"].stop() == 0
    sku = new_sku(ctx, 10)
    order_id = place(ctx, f"orchestrated-{drill.lower()}", [OrderLine(sku, 1, 700)])
    wait_until(lambda: reservation_status(ctx, order_id) == "RESERVED", 60, "the reservation")
    # The orchestrator takes StockReserved and dies: before its transaction commits (the next
    # command is not sent), or after it and before the offset is stored (the reply comes again).
    crashing = ServiceProcess("order", **drill_env(**{drill: 1})).start()
    assert crashing.wait_exit(120) == -signal.SIGKILL
    services["order"] = ServiceProcess("order").start()
    assert wait_final(ctx, order_id) is OrderStatus.CONFIRMED
    steps = [h[0] for h in history(ctx, order_id)]
    assert steps == ["OrderPlaced", "StockReserved", "PaymentCompleted"]
    charged = ChargeLedger(PaymentSettings.read(Settings.load()).gateway_ledger).lookup(order_id)
    assert charged is not None and charged.calls == 1
    assert stock(ctx, sku) == (9, 1)

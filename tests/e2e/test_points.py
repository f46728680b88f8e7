"""The points service in the running flow: redeem in both saga styles, refuse too few points,
give them back once when a later step fails."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from services.contracts import FLOWS
from services.order.commands import place_order
from services.order.domain import OrderLine, OrderStatus
from services.order.repository import get as get_order
from services.points.commands import set_points
from services.points.repository import balances
from services.points.tables import redemptions
from tests.conftest import wait_until
from tests.e2e.probes import new_sku, service_command, stock, wait_final

pytestmark = pytest.mark.stack


def customer_with(ctx, points: int) -> str:
    customer = f"points-{uuid.uuid4().hex[:8]}"
    set_points(ctx["points"].uow_factory, customer, points)
    return customer


def balance(ctx, customer: str) -> int:
    with ctx["points"].engine.connect() as connection:
        return balances(connection, [customer])[customer]


def redemption(ctx, order_id: str) -> tuple[str, int] | None:
    with ctx["points"].engine.connect() as connection:
        row = connection.execute(select(redemptions).where(redemptions.c.order_id == order_id)).first()
    return (row.status, row.points) if row else None


def outbox_count(ctx, order_id: str, event_type: str) -> int:
    outbox = ctx["points"].messaging.outbox
    with ctx["points"].engine.connect() as connection:
        query = select(func.count()).where(outbox.c.aggregateid == order_id, outbox.c.type == event_type)
        return int(connection.execute(query).scalar_one())


@pytest.mark.parametrize("flow", FLOWS)
def test_an_order_pays_partly_with_points_and_is_charged_the_rest(ctx, flow):
    customer = customer_with(ctx, 1000)
    sku = new_sku(ctx, 5)
    order = place_order(ctx["order"].uow_factory, customer, [OrderLine(sku, 2, 400)], flow=flow, points=300)
    assert wait_final(ctx, order.id) is OrderStatus.CONFIRMED
    assert balance(ctx, customer) == 700 and redemption(ctx, order.id) == ("DEDUCTED", 300)
    payments = ctx["payment"].metadata.tables["payments"]
    with ctx["payment"].engine.connect() as connection:
        charged = connection.execute(
            select(payments.c.amount_cents).where(payments.c.order_id == order.id)
        ).scalar_one()
    assert charged == 500  # 800 less 300 points
    assert stock(ctx, sku) == (3, 2)


@pytest.mark.parametrize("flow", FLOWS)
def test_too_few_points_cancel_the_order_and_release_its_stock(ctx, flow):
    customer = customer_with(ctx, 50)
    sku = new_sku(ctx, 5)
    order = place_order(ctx["order"].uow_factory, customer, [OrderLine(sku, 1, 400)], flow=flow, points=120)
    assert wait_final(ctx, order.id) is OrderStatus.CANCELLED
    with ctx["order"].engine.connect() as connection:
        cancelled = get_order(connection, order.id)
    assert cancelled is not None
    assert cancelled.cancel_reason == (
        f"points rejected: insufficient points: {customer} has 50, the order redeems 120"
    )
    wait_until(lambda: stock(ctx, sku) == (5, 0), 60, "the reserved stock released")
    assert balance(ctx, customer) == 50


@pytest.mark.parametrize("flow", FLOWS)
def test_a_declined_payment_returns_the_points_once(ctx, flow):
    customer = customer_with(ctx, 1000)
    sku = new_sku(ctx, 5)
    # Over the test stack's card limit (50000 cents) even after the points: the gateway declines.
    order = place_order(
        ctx["order"].uow_factory, customer, [OrderLine(sku, 1, 60_000)], flow=flow, points=500
    )
    assert wait_final(ctx, order.id) is OrderStatus.CANCELLED
    wait_until(lambda: redemption(ctx, order.id) == ("RETURNED", 500), 60, "the points returned")
    assert balance(ctx, customer) == 1000
    assert outbox_count(ctx, order.id, "PointsDeducted") == outbox_count(ctx, order.id, "PointsReturned") == 1
    wait_until(lambda: stock(ctx, sku) == (5, 0), 60, "the reserved stock released")


def test_the_points_command_line_sets_and_reads_a_balance(ctx):
    customer = f"points-cli-{uuid.uuid4().hex[:6]}"
    answer = service_command("points", "set-points", customer, "250")
    assert answer.stdout.strip() == f"{customer}: 250 points"
    assert service_command("points", "balance", customer).stdout.strip() == f"{customer}: 250 points"
    refused = service_command("points", "set-points", customer, "-5")
    assert refused.returncode == 2 and "points balance must be between 0" in refused.stderr
    assert "Traceback" not in refused.stderr

import pytest

from services.contracts import OrderCancelled, OrderConfirmed, OrderCreated
from services.order.domain import InvalidOrderError, Order, OrderLine, OrderStatus, TransitionRefused


def new_order() -> Order:
    return Order.place("c-1", [OrderLine("A", 2, 150), OrderLine("B", 1, 99)], "eur")


def test_place_computes_total_starts_pending_at_version_1_and_records_order_created():
    order = new_order()
    assert (order.status, order.version, order.total_cents) == (OrderStatus.PENDING, 1, 399)
    [(version, created)] = order.pull_changes()
    assert version == 1 and isinstance(created, OrderCreated)
    payload = created.to_payload()
    assert payload["currency"] == "EUR" and payload["totalCents"] == 399 and payload["orderId"] == order.id
    assert payload["lines"][0] == {"sku": "A", "quantity": 2, "unitPriceCents": 150}
    assert order.pull_changes() == []  # handed over once


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Order.place("c", []), "at least one line"),
        (lambda: Order.place("", [OrderLine("A", 1, 1)]), "customer id"),
        (lambda: Order.place("c", [OrderLine("A", 1, 1), OrderLine("A", 2, 1)]), "once per order"),
        (lambda: Order.place("c", [OrderLine("A", 1, 1)], "EURO"), "currency"),
        (lambda: OrderLine("A", 0, 1), "quantity of A must be between 1 and 2147483647, got 0"),
        (lambda: OrderLine("A", 2**31, 1), "quantity of A must be between 1 and 2147483647"),
        (lambda: OrderLine("A", 1, -5), r"unit price of A \(cents\) must be between 0 and"),
        (lambda: OrderLine("A", 1, 10**20), r"unit price of A \(cents\) must be between 0 and 92233"),
        (lambda: OrderLine("A", 1.5, 1), "quantity of A must be a whole number"),  # type: ignore[arg-type]
        (lambda: OrderLine("", 1, 1), "sku must not be empty"),
        (lambda: OrderLine("   ", 1, 1), "sku must not be empty"),
        (lambda: OrderLine("S" * 65, 1, 1), "sku must be at most 64 characters, got 65"),
        (lambda: Order.place("c" * 65, [OrderLine("A", 1, 1)]), "customer id must be at most 64"),
        # Each line fits, the sum does not: the total is an Avro long too.
        (lambda: Order.place("c", [OrderLine("A", 2, 2**62), OrderLine("B", 1, 1)]), "order total"),
    ],
)
def test_invalid_orders_are_refused_with_the_reason(build, message):
    with pytest.raises(InvalidOrderError, match=message):
        build()


def test_happy_path_reserves_then_confirms_with_one_event_per_visible_change():
    order = new_order()
    order.pull_changes()
    order.stock_reserved()
    order.payment_completed("pay-1")
    assert (order.status, order.version, order.payment_id) == (OrderStatus.CONFIRMED, 3, "pay-1")
    assert order.pull_changes() == [(3, OrderConfirmed(order.id, "pay-1"))]


def test_payment_reported_before_the_reservation_is_seen_still_confirms():
    order = new_order()
    order.payment_completed("pay-1")
    assert order.status is OrderStatus.CONFIRMED
    with pytest.raises(TransitionRefused):
        order.stock_reserved()  # the late reservation changes nothing
    assert order.version == 2


def test_late_success_after_timeout_is_refused_and_changes_nothing():
    order = new_order()
    order.stock_reserved()
    order.time_out(60)
    order.pull_changes()
    with pytest.raises(TransitionRefused, match="PaymentCompleted is not allowed in state CANCELLED"):
        order.payment_completed("pay-late")
    assert (order.status, order.payment_id, order.version) == (OrderStatus.CANCELLED, None, 3)
    assert order.pull_changes() == []


CANCELLATIONS = {
    "stock rejected": lambda order: order.stock_rejected("none left"),
    "payment failed": lambda order: order.payment_failed("declined"),
    "timed out": lambda order: order.time_out(60),
    "customer": lambda order: order.cancel("changed my mind"),
}


@pytest.mark.parametrize("first", sorted(CANCELLATIONS))
def test_cancellation_happens_once_and_says_why(first):
    order = new_order()
    order.pull_changes()
    CANCELLATIONS[first](order)
    [(version, cancelled)] = order.pull_changes()
    assert version == 2 and isinstance(cancelled, OrderCancelled) and cancelled.reason == order.cancel_reason
    for again in CANCELLATIONS.values():
        with pytest.raises(TransitionRefused):
            again(order)
    assert order.version == 2 and order.pull_changes() == []


def test_confirmed_orders_cannot_be_cancelled():
    order = new_order()
    order.payment_completed("p")
    for cancel in CANCELLATIONS.values():
        with pytest.raises(TransitionRefused):
            cancel(order)
    assert order.status is OrderStatus.CONFIRMED

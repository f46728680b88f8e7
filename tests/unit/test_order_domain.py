import pytest

from services.order.domain import (
    ORDER_SAGA,
    InvalidOrderError,
    Order,
    OrderLine,
    OrderStatus,
    TransitionRefused,
    order_created_payload,
)


def new_order() -> Order:
    return Order.place("c-1", [OrderLine("A", 2, 150), OrderLine("B", 1, 99)], "eur")


def test_place_computes_total_and_starts_pending_at_version_1():
    order = new_order()
    assert order.status is OrderStatus.PENDING
    assert order.version == 1
    assert order.total_cents == 399
    payload = order_created_payload(order)
    assert payload["currency"] == "EUR"
    assert payload["lines"][0] == {"sku": "A", "quantity": 2, "unitPriceCents": 150}


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
        (lambda: OrderLine("A", 1.5, 1), "quantity of A must be a whole number"),
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


def test_happy_path_reserves_then_confirms():
    order = new_order()
    order.apply("StockReserved")
    order.confirm("pay-1")
    assert (order.status, order.version, order.payment_id) == (OrderStatus.CONFIRMED, 3, "pay-1")


def test_payment_reported_before_the_reservation_is_seen_still_confirms():
    order = new_order()
    order.confirm("pay-1")
    assert order.status is OrderStatus.CONFIRMED
    with pytest.raises(TransitionRefused):
        order.apply("StockReserved")  # the late reservation changes nothing
    assert order.version == 2


def test_late_success_after_timeout_is_refused_and_changes_nothing():
    order = new_order()
    order.apply("StockReserved")
    order.cancel("TimedOut", "no reply")
    with pytest.raises(TransitionRefused, match="PaymentCompleted is not allowed in state CANCELLED"):
        order.confirm("pay-late")
    assert (order.status, order.payment_id, order.version) == (OrderStatus.CANCELLED, None, 3)


@pytest.mark.parametrize("trigger", ["PaymentFailed", "TimedOut", "CancelRequested", "StockRejected"])
def test_cancellation_happens_once(trigger):
    order = new_order()
    order.cancel(trigger, "why")
    for again in ("PaymentFailed", "TimedOut", "CancelRequested", "StockRejected"):
        with pytest.raises(TransitionRefused):
            order.cancel(again, "twice")
    assert order.version == 2


def test_confirmed_orders_cannot_be_cancelled():
    order = new_order()
    order.confirm("p")
    for trigger in ("PaymentFailed", "TimedOut", "CancelRequested", "StockRejected"):
        assert not ORDER_SAGA.allows(order.status, trigger)

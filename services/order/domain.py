"""The order aggregate and its saga: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from outboxkit import (
    MAX_INT32,
    MAX_INT64,
    Aggregate,
    InvalidValueError,
    StateMachine,
    TransitionRefused,
    bounded_int,
    bounded_text,
    new_id,
)
from services import contracts
from services.contracts import CHOREOGRAPHED, FLOWS, OrderCancelled, OrderConfirmed, OrderCreated

SKU_LENGTH = 64  # order_lines.sku
CUSTOMER_LENGTH = 64  # orders.customer_id


class InvalidOrderError(InvalidValueError):
    """A request to place an order that cannot be valid."""


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    STOCK_RESERVED = "STOCK_RESERVED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


OPEN = (OrderStatus.PENDING, OrderStatus.STOCK_RESERVED)

# The order saga (choreography). Payment may be reported before the order has seen the
# reservation (they come from different topics), so PaymentCompleted is accepted from PENDING
# too. Everything not listed is refused: e.g. PaymentCompleted after a timeout cancelled the
# order changes nothing here (the payment service refunds it on OrderCancelled).
ORDER_SAGA: StateMachine[OrderStatus] = StateMachine(
    [
        ([OrderStatus.PENDING], "StockReserved", OrderStatus.STOCK_RESERVED),
        ([OrderStatus.PENDING], "StockRejected", OrderStatus.CANCELLED),
        (OPEN, "PaymentCompleted", OrderStatus.CONFIRMED),
        (OPEN, "PaymentFailed", OrderStatus.CANCELLED),
        (OPEN, "PointsRejected", OrderStatus.CANCELLED),
        (OPEN, "TimedOut", OrderStatus.CANCELLED),
        (OPEN, "CancelRequested", OrderStatus.CANCELLED),
    ]
)


@dataclass(frozen=True)
class OrderLine(contracts.OrderLine):
    """A line as the order service accepts it: within the columns' and the schema's ranges."""

    def __post_init__(self) -> None:
        try:
            bounded_text("sku", self.sku, SKU_LENGTH)
            bounded_int(f"quantity of {self.sku}", self.quantity, 1, MAX_INT32)
            bounded_int(f"unit price of {self.sku} (cents)", self.unit_price_cents, 0, MAX_INT64)
        except ValueError as exc:
            raise InvalidOrderError(str(exc)) from None


@dataclass
class Order(Aggregate):
    state_machine = ORDER_SAGA

    id: str
    customer_id: str
    lines: list[OrderLine]
    currency: str
    status: OrderStatus = OrderStatus.PENDING
    version: int = 1
    cancel_reason: str | None = None
    payment_id: str | None = None
    flow: str = CHOREOGRAPHED
    points: int = 0  # redeemed: one point is worth one cent of the total

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def to_charge_cents(self) -> int:
        """What payment charges: the total less the points redeemed."""
        return self.total_cents - self.points

    @classmethod
    def place(
        cls,
        customer_id: str,
        lines: list[OrderLine],
        currency: str = "EUR",
        order_id: str | None = None,
        flow: str = CHOREOGRAPHED,
        points: int = 0,
    ) -> Order:
        try:
            bounded_text("customer id", customer_id, CUSTOMER_LENGTH)
            total = bounded_int("order total (cents)", sum(line.total_cents for line in lines), 0, MAX_INT64)
            bounded_int("points", points, 0, MAX_INT64)
            if points > total:
                raise InvalidOrderError(f"points cannot exceed the order's total ({total}), got {points}")
        except ValueError as exc:
            raise InvalidOrderError(str(exc)) from None
        if not lines:
            raise InvalidOrderError("an order needs at least one line")
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise InvalidOrderError(f"each sku may appear once per order, got {skus}")
        if len(currency) != 3 or not currency.isalpha():
            raise InvalidOrderError(f"currency must be a 3-letter code, got {currency!r}")
        if flow not in FLOWS:
            raise InvalidOrderError(f"flow must be one of {', '.join(FLOWS)}, got {flow!r}")
        order = cls(
            id=order_id or new_id(),
            customer_id=customer_id,
            lines=list(lines),
            currency=currency.upper(),
            flow=flow,
            points=points,
        )
        order._record(
            OrderCreated(
                order.id,
                order.customer_id,
                tuple(order.lines),
                order.total_cents,
                order.currency,
                flow,
                points,
            )
        )
        return order

    def stock_reserved(self) -> None:
        self._transition("StockReserved")

    def stock_rejected(self, reason: str) -> None:
        self._cancel("StockRejected", f"stock rejected: {reason}")

    def payment_completed(self, payment_id: str) -> None:
        self._transition("PaymentCompleted", OrderConfirmed(self.id, payment_id))
        self.payment_id = payment_id

    def points_rejected(self, reason: str) -> None:
        self._cancel("PointsRejected", f"points rejected: {reason}")

    def payment_failed(self, reason: str) -> None:
        # The reservation is undone by the inventory service when it sees OrderCancelled.
        self._cancel("PaymentFailed", f"payment failed: {reason}")

    def time_out(self, after_s: float) -> None:
        self._cancel("TimedOut", f"no reply within {after_s:.0f}s")

    def cancel(self, reason: str) -> None:
        """The customer's cancellation of an open order (compensations follow OrderCancelled)."""
        self._cancel("CancelRequested", reason)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def _cancel(self, trigger: str, reason: str) -> None:
        reason = reason[:255]
        self._transition(trigger, OrderCancelled(self.id, reason, self.flow, self.points))
        self.cancel_reason = reason


__all__ = ["ORDER_SAGA", "InvalidOrderError", "Order", "OrderLine", "OrderStatus", "TransitionRefused"]

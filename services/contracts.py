"""The order flow's events and commands, typed: one class per schema in ``schemas/avro/``.

Every message of the flow is keyed by its ``order_id`` (problem 7). The classes mirror the Avro
records field by field (checked by tests/unit/test_contracts.py); the envelope (event id,
aggregate version, time) is added by the outbox.

An order is driven by one saga style, named in its events' ``flow``: CHOREOGRAPHED (each
participant reacts to the previous step's event) or ORCHESTRATED (the order service's
orchestrator sends each participant a command and the participant replies with its event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from outboxkit import Event, TypedHandler, UnitOfWork, commands_for

CHOREOGRAPHED = "choreographed"
ORCHESTRATED = "orchestrated"
FLOWS = (CHOREOGRAPHED, ORCHESTRATED)


@dataclass(frozen=True)
class OrderFlowEvent(Event):
    key_field: ClassVar[str] = "order_id"

    order_id: str


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True)
class StockLine:
    sku: str
    quantity: int


# --- order.events -------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderEvent(OrderFlowEvent):
    aggregate_type: ClassVar[str] = "order"


@dataclass(frozen=True)
class OrderCreated(OrderEvent):
    customer_id: str
    lines: tuple[OrderLine, ...]
    total_cents: int
    currency: str
    flow: str = CHOREOGRAPHED
    points: int = 0  # redeemed; one point is worth one cent


@dataclass(frozen=True)
class OrderConfirmed(OrderEvent):
    payment_id: str


@dataclass(frozen=True)
class OrderCancelled(OrderEvent):
    reason: str
    flow: str = CHOREOGRAPHED
    points: int = 0  # what the order redeemed


# --- inventory.events ---------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryEvent(OrderFlowEvent):
    aggregate_type: ClassVar[str] = "inventory"


@dataclass(frozen=True)
class StockReserved(InventoryEvent):
    lines: tuple[StockLine, ...]
    amount_cents: int
    currency: str
    flow: str = CHOREOGRAPHED
    customer_id: str = ""
    points: int = 0


@dataclass(frozen=True)
class StockRejected(InventoryEvent):
    reason: str


@dataclass(frozen=True)
class StockReleased(InventoryEvent):
    lines: tuple[StockLine, ...]


# --- payment.events -----------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentEvent(OrderFlowEvent):
    aggregate_type: ClassVar[str] = "payment"


@dataclass(frozen=True)
class PaymentCompleted(PaymentEvent):
    payment_id: str
    amount_cents: int


@dataclass(frozen=True)
class PaymentFailed(PaymentEvent):
    reason: str


@dataclass(frozen=True)
class PaymentRefunded(PaymentEvent):
    payment_id: str
    amount_cents: int


# --- points.events -------------------------------------------------------------------------


@dataclass(frozen=True)
class PointsEvent(OrderFlowEvent):
    aggregate_type: ClassVar[str] = "points"


@dataclass(frozen=True)
class PointsDeducted(PointsEvent):
    customer_id: str
    points: int
    amount_cents: int  # left to charge
    currency: str
    flow: str = CHOREOGRAPHED


@dataclass(frozen=True)
class PointsRejected(PointsEvent):
    reason: str


@dataclass(frozen=True)
class PointsReturned(PointsEvent):
    customer_id: str
    points: int


# --- inventory.commands, payment.commands, points.commands (from the orchestrator) --------------------------


@dataclass(frozen=True)
class InventoryCommand(OrderFlowEvent):
    aggregate_type: ClassVar[str] = commands_for("inventory")


@dataclass(frozen=True)
class ReserveStock(InventoryCommand):
    lines: tuple[StockLine, ...]
    amount_cents: int
    currency: str


@dataclass(frozen=True)
class ReleaseStock(InventoryCommand):
    pass


@dataclass(frozen=True)
class PaymentCommand(OrderFlowEvent):
    aggregate_type: ClassVar[str] = commands_for("payment")


@dataclass(frozen=True)
class ChargePayment(PaymentCommand):
    amount_cents: int
    currency: str


@dataclass(frozen=True)
class RefundPayment(PaymentCommand):
    pass


@dataclass(frozen=True)
class PointsCommand(OrderFlowEvent):
    aggregate_type: ClassVar[str] = commands_for("points")


@dataclass(frozen=True)
class DeductPoints(PointsCommand):
    customer_id: str
    points: int
    amount_cents: int
    currency: str


@dataclass(frozen=True)
class ReturnPoints(PointsCommand):
    pass


ALL_EVENTS: tuple[type[OrderFlowEvent], ...] = (
    OrderCreated,
    OrderConfirmed,
    OrderCancelled,
    StockReserved,
    StockRejected,
    StockReleased,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    PointsDeducted,
    PointsRejected,
    PointsReturned,
    ReserveStock,
    ReleaseStock,
    ChargePayment,
    RefundPayment,
    DeductPoints,
    ReturnPoints,
)


U = TypeVar("U", bound=UnitOfWork)


def choreographed_only(handler: Callable[[U, Any], None]) -> TypedHandler[U]:
    """A participant's reaction to another service's event, for orders whose participants react
    to events; an orchestrated order's participants act on its commands only."""

    def react(uow: U, event: Any) -> None:
        if event.flow == CHOREOGRAPHED:
            handler(uow, event)

    return react

"""The order flow's events, typed: one class per schema in ``schemas/avro/<aggregate>/``.

Every event of the flow is keyed by its ``order_id`` (problem 7). The classes mirror the Avro
records field by field (checked by tests/unit/test_contracts.py); the envelope (event id,
aggregate version, time) is added by the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from eventcore.events import Event


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


@dataclass(frozen=True)
class OrderConfirmed(OrderEvent):
    payment_id: str


@dataclass(frozen=True)
class OrderCancelled(OrderEvent):
    reason: str


# --- inventory.events ---------------------------------------------------------------------

@dataclass(frozen=True)
class InventoryEvent(OrderFlowEvent):
    aggregate_type: ClassVar[str] = "inventory"


@dataclass(frozen=True)
class StockReserved(InventoryEvent):
    lines: tuple[StockLine, ...]
    amount_cents: int
    currency: str


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


ALL_EVENTS: tuple[type[OrderFlowEvent], ...] = (
    OrderCreated, OrderConfirmed, OrderCancelled,
    StockReserved, StockRejected, StockReleased,
    PaymentCompleted, PaymentFailed, PaymentRefunded,
)

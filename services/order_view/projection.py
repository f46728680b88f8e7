"""The order view and how each event of the flow changes it: pure rules, no I/O.

One view per order, from the events of four aggregates keyed by the order id: the order's own
(status, lines, total), the inventory's (the stock outcome), the points' (the redemption's
outcome) and the payment's (the payment outcome). The topics are read independently, so a
participant's event may be applied before the order's OrderCreated: the view starts from
whichever comes first. Everything in a view follows from
the events alone (never from when they were applied), so rebuilding from the topics yields the
same views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from outboxkit import Envelope, Event
from services.contracts import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    PointsDeducted,
    PointsRejected,
    PointsReturned,
    StockRejected,
    StockReleased,
    StockReserved,
)

VIEWED_EVENTS: tuple[type[Event], ...] = (
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
)
AGGREGATES = ("order", "inventory", "points", "payment")
PENDING = "PENDING"
STOCK_RESERVED = "STOCK_RESERVED"
STATUSES = (PENDING, STOCK_RESERVED, "CONFIRMED", "CANCELLED")


@dataclass(frozen=True)
class TimelineEntry:
    event_id: str
    aggregate_type: str
    aggregate_version: int
    event_type: str
    occurred_at: datetime | None
    summary: str


def money(cents: int | None, currency: str | None) -> str:
    if cents is None:
        return "?"
    return f"{cents // 100}.{cents % 100:02d} {currency or ''}".rstrip()


@dataclass
class OrderView:
    order_id: str
    customer_id: str | None = None
    order_status: str = PENDING  # as the order's own events tell it
    currency: str | None = None
    total_cents: int | None = None
    lines: tuple[OrderLine, ...] = ()
    flow: str | None = None
    stock: str | None = None  # RESERVED, REJECTED, RELEASED
    stock_reason: str | None = None
    payment: str | None = None  # COMPLETED, FAILED, REFUNDED
    payment_id: str | None = None
    payment_reason: str | None = None
    points: int = 0  # redeemed
    points_status: str | None = None  # DEDUCTED, REJECTED, RETURNED
    points_reason: str | None = None
    cancel_reason: str | None = None
    versions: dict[str, int] = field(default_factory=dict)  # last applied version per aggregate
    placed_at: datetime | None = None
    updated_at: datetime | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    stored: bool = False  # the view has a row already

    @property
    def status(self) -> str:
        """The order's status; between placing and its outcome, whether its stock is reserved."""
        if self.order_status == PENDING and self.stock == "RESERVED":
            return STOCK_RESERVED
        return self.order_status

    def version_of(self, aggregate_type: str) -> int:
        return self.versions.get(aggregate_type, 0)

    def apply(self, event: Event, envelope: Envelope) -> TimelineEntry:
        """Change the view by ``event`` (newer than what the view has of its aggregate: the
        consumer's version guard sees to that); returns the timeline entry it adds."""
        summary = self._change(event)
        self.versions[envelope.aggregate_type] = envelope.aggregate_version
        occurred = envelope.occurred_at
        if occurred is not None and (self.updated_at is None or occurred > self.updated_at):
            self.updated_at = occurred
        entry = TimelineEntry(
            envelope.event_id,
            envelope.aggregate_type,
            envelope.aggregate_version,
            event.event_type(),
            envelope.occurred_at,
            summary,
        )
        if isinstance(event, OrderCreated):
            self.placed_at = envelope.occurred_at
        self.timeline.append(entry)
        return entry

    def _change(self, event: Event) -> str:
        match event:
            case OrderCreated():
                self.customer_id, self.lines = event.customer_id, event.lines
                self.total_cents, self.currency, self.flow = event.total_cents, event.currency, event.flow
                self.points = event.points
                redeeming = f", redeeming {event.points} points" if event.points else ""
                return (
                    f"placed by {event.customer_id}: {len(event.lines)} line(s), "
                    f"{money(event.total_cents, event.currency)}{redeeming} ({event.flow})"
                )
            case OrderConfirmed():
                self.order_status, self.payment_id = "CONFIRMED", event.payment_id
                return "order confirmed"
            case OrderCancelled():
                self.order_status, self.cancel_reason = "CANCELLED", event.reason
                return f"order cancelled: {event.reason}"
            case StockReserved():
                self.stock, self.stock_reason = "RESERVED", None
                return f"stock reserved: {', '.join(f'{s.quantity} x {s.sku}' for s in event.lines)}"
            case StockRejected():
                self.stock, self.stock_reason = "REJECTED", event.reason
                return f"stock rejected: {event.reason}"
            case StockReleased():
                self.stock = "RELEASED"
                return "stock released"
            case PointsDeducted():
                self.points_status, self.points_reason = "DEDUCTED", None
                return f"{event.points} points deducted from {event.customer_id}"
            case PointsRejected():
                self.points_status, self.points_reason = "REJECTED", event.reason
                return f"points rejected: {event.reason}"
            case PointsReturned():
                self.points_status = "RETURNED"
                return f"{event.points} points returned to {event.customer_id}"
            case PaymentCompleted():
                self.payment, self.payment_id, self.payment_reason = "COMPLETED", event.payment_id, None
                # From the event alone (not the view's currency, which a rebuild may not have yet).
                return f"payment of {money(event.amount_cents, None)} completed ({event.payment_id})"
            case PaymentFailed():
                self.payment, self.payment_reason = "FAILED", event.reason
                return f"payment failed: {event.reason}"
            case PaymentRefunded():
                self.payment = "REFUNDED"
                return f"payment of {money(event.amount_cents, None)} refunded"
        raise TypeError(f"the order view does not project {event.event_type()}")

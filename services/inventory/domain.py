"""Stock reservations: pure rules, no I/O.

A reservation is per order (the orderId is its aggregate id) and a compensable step of the
saga: all lines are reserved or none, and a reservation is released at most once. An order
cancelled before its reservation was seen is remembered as VOIDED so a late OrderCreated
cannot reserve for it (the rules of :class:`outboxkit.sagas.steps.CompensableStep`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from outboxkit import MAX_INT32, CompensableStep, StepLabels, bounded_text
from services.contracts import StockLine, StockRejected, StockReleased, StockReserved

SKU_LENGTH = 64  # products.sku
MAX_STOCK = MAX_INT32  # products.available


def valid_sku(sku: str) -> str:
    return bounded_text("sku", sku, SKU_LENGTH)


@dataclass(frozen=True)
class StockLevel:
    sku: str
    available: int
    reserved: int


@dataclass(frozen=True)
class Decision:
    reserve: bool
    reason: str | None = None


def decide(requested: Mapping[str, int], stock: Mapping[str, StockLevel]) -> Decision:
    """All or nothing: reserve only if every line is known and available in full."""
    shortages = []
    for sku, quantity in sorted(requested.items()):
        level = stock.get(sku)
        if level is None:
            shortages.append(f"{sku} unknown")
        elif level.available < quantity:
            shortages.append(f"{sku} needs {quantity}, {level.available} available")
    if shortages:
        return Decision(False, "insufficient stock: " + "; ".join(shortages))
    return Decision(True)


@dataclass
class Reservation(CompensableStep):
    labels = StepLabels(done="RESERVED", refused="REJECTED", compensated="RELEASED")

    lines: dict[str, int] = field(default_factory=dict)

    @property
    def order_id(self) -> str:
        return self.saga_id

    def reserve(
        self,
        requested: Mapping[str, int],
        stock: Mapping[str, StockLevel],
        amount_cents: int,
        currency: str,
        flow: str,
        customer_id: str = "",
        points: int = 0,
    ) -> None:
        """Reserve every line or reject the order; the stock moves are the caller's to write.
        The customer and the points an order redeems ride along for the next step (choreography)."""
        decision = decide(requested, stock)
        if decision.reserve:
            self._done(
                StockReserved(
                    self.order_id, _stock_lines(requested), amount_cents, currency, flow, customer_id, points
                )
            )
            self.lines = dict(requested)
        else:
            assert decision.reason is not None
            self._refused(StockRejected(self.order_id, decision.reason), decision.reason)

    def released(self) -> StockReleased:
        """What releasing the reserved lines (the compensation) announces."""
        return StockReleased(self.order_id, _stock_lines(self.lines))


def _stock_lines(lines: Mapping[str, int]) -> tuple[StockLine, ...]:
    return tuple(StockLine(sku, quantity) for sku, quantity in sorted(lines.items()))

"""Stock reservations: pure rules, no I/O.

A reservation is per order (the orderId is its aggregate id): all lines are reserved or none,
and a reservation is released at most once. An order cancelled before its reservation was
seen is remembered as VOIDED so a late OrderCreated cannot reserve for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from eventcore.limits import MAX_INT32, bounded_text
from eventcore.saga import StateMachine

SKU_LENGTH = 64  # products.sku
MAX_STOCK = MAX_INT32  # products.available


def valid_sku(sku: str) -> str:
    return bounded_text("sku", sku, SKU_LENGTH)


class ReservationStatus(StrEnum):
    NEW = "NEW"
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"
    RELEASED = "RELEASED"
    VOIDED = "VOIDED"


RESERVATION: StateMachine[ReservationStatus] = StateMachine([
    ([ReservationStatus.NEW], "Reserve", ReservationStatus.RESERVED),
    ([ReservationStatus.NEW], "Reject", ReservationStatus.REJECTED),
    ([ReservationStatus.RESERVED], "Release", ReservationStatus.RELEASED),
    ([ReservationStatus.NEW], "Void", ReservationStatus.VOIDED),
])


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



"""What the inventory's handlers work with: its repositories on one unit of work.

Production opens :class:`services.inventory.repository.SqlInventoryUnitOfWork`; handler tests
open :class:`services.inventory.in_memory.InMemoryInventoryUnitOfWork`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from outboxkit import StepRepository, UnitOfWork
from services.inventory.domain import Reservation, StockLevel


class StockRepository(Protocol):
    def levels(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        """The products' stock levels, locked until the commit (unknown skus absent)."""
        ...

    def move(self, lines: Mapping[str, int], sign: int) -> None:
        """Reserve (+1) or release (-1) the quantities of ``lines`` (read by :meth:`levels` first)."""
        ...

    def set_available(self, sku: str, available: int) -> StockLevel:
        """Set a product's available quantity (creating it); reserved stock is left alone."""
        ...


class InventoryUnitOfWork(UnitOfWork):
    reservations: StepRepository[Reservation]
    stock: StockRepository

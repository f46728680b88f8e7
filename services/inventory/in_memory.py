"""The inventory's unit of work in memory, for its handler tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from outboxkit.testing import InMemoryRepository, InMemorySteps, InMemoryUnitOfWork
from services.inventory.domain import Reservation, StockLevel
from services.inventory.unit_of_work import InventoryUnitOfWork


class InMemoryStock(InMemoryRepository[str, StockLevel]):
    def levels(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        return {sku: level for sku in sorted(skus) if (level := self.items.get(sku)) is not None}

    def move(self, lines: Mapping[str, int], sign: int) -> None:
        for sku, quantity in lines.items():
            level = self.items[sku]
            self.items[sku] = StockLevel(
                sku, level.available - sign * quantity, level.reserved + sign * quantity
            )

    def set_available(self, sku: str, available: int) -> StockLevel:
        level = self.items.get(sku)
        self.items[sku] = StockLevel(sku, available, level.reserved if level else 0)
        return self.items[sku]


class InMemoryInventoryUnitOfWork(InMemoryUnitOfWork, InventoryUnitOfWork):
    reservations: InMemorySteps[Reservation]
    stock: InMemoryStock

    def __init__(self, stock: Mapping[str, int] | None = None) -> None:
        super().__init__()
        self.reservations = InMemorySteps(self, Reservation)
        self.stock = InMemoryStock({sku: StockLevel(sku, n, 0) for sku, n in (stock or {}).items()})

"""The inventory's unit of work in memory, for its handler tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from eventcore import InMemoryRepository, InMemoryUnitOfWork, emit_changes
from services.inventory.domain import Reservation, StockLevel
from services.inventory.unit_of_work import InventoryUnitOfWork


class InMemoryReservations(InMemoryRepository[str, Reservation]):
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        super().__init__()
        self._uow = uow

    def load(self, order_id: str) -> Reservation:
        return self.get(order_id) or Reservation(order_id)

    def save(self, reservation: Reservation) -> None:
        emit_changes(self._uow, reservation)
        reservation.stored_version = reservation.version
        self.put(reservation.order_id, reservation)


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
    def __init__(self, stock: Mapping[str, int] | None = None) -> None:
        super().__init__()
        self.reservations = InMemoryReservations(self)
        self.stock = InMemoryStock({sku: StockLevel(sku, n, 0) for sku, n in (stock or {}).items()})

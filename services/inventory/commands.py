"""The inventory service's use cases: reserve on OrderCreated, release on OrderCancelled, and
the operator's ``set_stock``."""

from __future__ import annotations

from collections.abc import Callable

from eventcore.aggregate import StepStatus, compensating
from eventcore.db import UnitOfWork
from eventcore.events import TypedHandler
from eventcore.limits import bounded_int
from services.contracts import OrderCancelled, OrderCreated, StockReleased
from services.inventory.domain import MAX_STOCK, Reservation, StockLevel, valid_sku
from services.inventory.repository import reservation_repository as reservations
from services.inventory.repository import stock


def set_stock(uow_factory: Callable[[], UnitOfWork], sku: str, available: int) -> StockLevel:
    """Set a product's available quantity (creating it); reserved stock is left alone."""
    valid_sku(sku)
    bounded_int(f"available stock of {sku}", available, 0, MAX_STOCK)
    with uow_factory() as uow:
        stock.set_available(uow.connection, sku, available)
        return stock.levels(uow.connection, [sku])[sku]


def on_order_created(uow: UnitOfWork, event: OrderCreated) -> None:
    reservation = reservations.load(uow, event.order_id)
    reservation.expect_to_run()
    requested = {line.sku: line.quantity for line in event.lines}
    reservation.reserve(requested, stock.levels(uow.connection, requested, for_update=True),
                        event.total_cents, event.currency)
    if reservation.status is StepStatus.DONE:
        stock.move(uow.connection, requested, +1)
    reservations.save(uow, reservation)


def release_stock(uow: UnitOfWork, reservation: Reservation) -> StockReleased:
    stock.levels(uow.connection, reservation.lines, for_update=True)
    stock.move(uow.connection, reservation.lines, -1)
    return reservation.released()


HANDLERS: dict[type, TypedHandler] = {
    OrderCreated: on_order_created,
    OrderCancelled: compensating(reservations, release_stock),
}

"""The inventory service's use cases: reserve on OrderCreated (choreography) or ReserveStock
(orchestration), release on OrderCancelled or ReleaseStock, and the operator's ``set_stock``."""

from __future__ import annotations

from collections.abc import Callable

from eventcore import StepStatus, TypedHandler, UnitOfWork, bounded_int, compensating
from services.contracts import (
    CHOREOGRAPHED,
    ORCHESTRATED,
    OrderCancelled,
    OrderCreated,
    ReleaseStock,
    ReserveStock,
    StockReleased,
    choreographed_only,
)
from services.inventory.domain import MAX_STOCK, Reservation, StockLevel, valid_sku
from services.inventory.repository import reservation_repository as reservations
from services.inventory.repository import stock


def set_stock(uow_factory: Callable[[], UnitOfWork], sku: str, available: int) -> StockLevel:
    """Set a product's available quantity (creating it); reserved stock is left alone."""
    valid_sku(sku)
    bounded_int(f"available stock of {sku}", available, 0, MAX_STOCK)
    with uow_factory() as uow:
        stock.set_available(uow.connection, sku, available)
        return stock.current_levels(uow.connection, [sku])[sku]


def reserve(
    uow: UnitOfWork, order_id: str, requested: dict[str, int], amount_cents: int, currency: str, flow: str
) -> None:
    reservation = reservations.load(uow, order_id)
    reservation.expect_to_run()
    reservation.reserve(requested, stock.levels(uow, requested), amount_cents, currency, flow)
    if reservation.status is StepStatus.DONE:
        stock.move(uow, requested, +1)
    reservations.save(uow, reservation)


def on_order_created(uow: UnitOfWork, event: OrderCreated) -> None:
    reserve(
        uow,
        event.order_id,
        {line.sku: line.quantity for line in event.lines},
        event.total_cents,
        event.currency,
        CHOREOGRAPHED,
    )


def on_reserve_stock(uow: UnitOfWork, command: ReserveStock) -> None:
    reserve(
        uow,
        command.order_id,
        {line.sku: line.quantity for line in command.lines},
        command.amount_cents,
        command.currency,
        ORCHESTRATED,
    )


def release_stock(uow: UnitOfWork, reservation: Reservation) -> StockReleased:
    stock.levels(uow, reservation.lines)
    stock.move(uow, reservation.lines, -1)
    return reservation.released()


HANDLERS: dict[type, TypedHandler] = {
    OrderCreated: choreographed_only(on_order_created),
    OrderCancelled: choreographed_only(compensating(reservations, release_stock)),
    ReserveStock: on_reserve_stock,
    ReleaseStock: compensating(reservations, release_stock),
}

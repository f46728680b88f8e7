"""The inventory service's use cases: reserve on OrderCreated (choreography) or ReserveStock
(orchestration), release on OrderCancelled or ReleaseStock, and the operator's ``set_stock``.

Every handler is a plain function ``(uow, event)`` over :class:`InventoryUnitOfWork`; ``HANDLERS``
routes the events to them.
"""

from __future__ import annotations

from collections.abc import Callable

from outboxkit import Event, StepStatus, TypedHandler, bounded_int, compensate
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
from services.inventory.unit_of_work import InventoryUnitOfWork


def set_stock(uow_factory: Callable[[], InventoryUnitOfWork], sku: str, available: int) -> StockLevel:
    """Set a product's available quantity (creating it); reserved stock is left alone."""
    valid_sku(sku)
    bounded_int(f"available stock of {sku}", available, 0, MAX_STOCK)
    with uow_factory() as uow:
        return uow.stock.set_available(sku, available)


def reserve(
    uow: InventoryUnitOfWork,
    order_id: str,
    requested: dict[str, int],
    amount_cents: int,
    currency: str,
    flow: str,
    customer_id: str = "",
    points: int = 0,
) -> None:
    reservation = uow.reservations.load(order_id)
    reservation.expect_to_run()
    reservation.reserve(
        requested, uow.stock.levels(requested), amount_cents, currency, flow, customer_id, points
    )
    if reservation.status is StepStatus.DONE:
        uow.stock.move(requested, +1)
    uow.reservations.save(reservation)


def on_order_created(uow: InventoryUnitOfWork, event: OrderCreated) -> None:
    reserve(
        uow,
        event.order_id,
        {line.sku: line.quantity for line in event.lines},
        event.total_cents,
        event.currency,
        CHOREOGRAPHED,
        event.customer_id,
        event.points,
    )


def on_reserve_stock(uow: InventoryUnitOfWork, command: ReserveStock) -> None:
    reserve(
        uow,
        command.order_id,
        {line.sku: line.quantity for line in command.lines},
        command.amount_cents,
        command.currency,
        ORCHESTRATED,
    )


def release_stock(uow: InventoryUnitOfWork, cancelled: Event) -> None:
    """Undo the order's reservation if it was made (once), void it if it was not."""

    def release(reservation: Reservation) -> StockReleased:
        uow.stock.levels(reservation.lines)
        uow.stock.move(reservation.lines, -1)
        return reservation.released()

    compensate(uow.reservations, cancelled.aggregate_id, release)


HANDLERS: dict[type[Event], TypedHandler[InventoryUnitOfWork]] = {
    OrderCreated: choreographed_only(on_order_created),
    OrderCancelled: choreographed_only(release_stock),
    ReserveStock: on_reserve_stock,
    ReleaseStock: release_stock,
}

"""The order service's unit of work in memory, for its use case and handler tests."""

from __future__ import annotations

from datetime import datetime

from outboxkit import SagaInstance, emit_changes, utc_now
from outboxkit.testing import InMemoryRepository, InMemoryUnitOfWork
from services.contracts import CHOREOGRAPHED
from services.order.domain import Order
from services.order.orchestration import WAITING, OrderSaga, SagaState, order_saga
from services.order.repository import OrderNotFoundError
from services.order.unit_of_work import OrderUnitOfWork


class InMemoryOrders(InMemoryRepository[str, Order]):
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        super().__init__()
        self._uow = uow
        self.placed_at: dict[str, datetime] = {}

    def add(self, order: Order) -> None:
        emit_changes(self._uow, order)
        self.put(order.id, order)
        self.placed_at[order.id] = utc_now()

    def load(self, order_id: str) -> Order:
        order = self.get(order_id)
        if order is None:
            raise OrderNotFoundError(f"no order {order_id}")
        return order

    def save(self, order: Order) -> None:
        emit_changes(self._uow, order)
        self.put(order.id, order)

    def open_ids_before(self, cutoff: datetime, limit: int) -> list[str]:
        candidates = [
            order_id
            for order_id, order in self.items.items()
            if order.is_open and order.flow == CHOREOGRAPHED and self.placed_at[order_id] < cutoff
        ]
        return sorted(candidates, key=self.placed_at.__getitem__)[:limit]


class InMemorySagas(InMemoryRepository[str, SagaInstance[SagaState]]):
    def load(self, order_id: str) -> SagaInstance[SagaState] | None:
        return self.get(order_id)

    def save(self, saga: SagaInstance[SagaState]) -> None:
        saga.stored_version = saga.version
        self.put(saga.saga_id, saga)  # its history entries are kept with it

    def overdue_ids(self, cutoff: datetime, limit: int) -> list[str]:
        overdue = [
            saga
            for saga in self.items.values()
            if saga.state in WAITING and saga.step_deadline is not None and saga.step_deadline < cutoff
        ]
        return [saga.saga_id for saga in sorted(overdue, key=lambda s: s.step_deadline or cutoff)][:limit]


class InMemoryOrderUnitOfWork(InMemoryUnitOfWork, OrderUnitOfWork):
    orders: InMemoryOrders
    sagas: InMemorySagas

    def __init__(self, saga: OrderSaga | None = None) -> None:
        super().__init__()
        self.orders = InMemoryOrders(self)
        self.sagas = InMemorySagas()
        self.saga = saga or order_saga()

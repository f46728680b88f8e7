"""What the order service's use cases work with: its orders, its saga instances and the saga's
plans (with the step deadlines it runs with), on one unit of work.

Production opens :class:`services.order.repository.SqlOrderUnitOfWork`; handler tests open
:class:`services.order.in_memory.InMemoryOrderUnitOfWork`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from outboxkit import SagaInstance, UnitOfWork
from services.order.domain import Order
from services.order.orchestration import OrderSaga, SagaState


class OrderRepository(Protocol):
    def add(self, order: Order) -> None:
        """A new order, with the events it caused."""
        ...

    def load(self, order_id: str) -> Order:
        """The order, locked until the commit (raises OrderNotFoundError)."""
        ...

    def save(self, order: Order) -> None: ...

    def open_ids_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Choreographed orders still open that were placed before ``cutoff``, oldest first."""
        ...


class SagaRepository(Protocol):
    def load(self, order_id: str) -> SagaInstance[SagaState] | None:
        """The order's saga instance (None for a choreographed order), locked until the commit."""
        ...

    def save(self, saga: SagaInstance[SagaState]) -> None: ...

    def overdue_ids(self, cutoff: datetime, limit: int) -> list[str]:
        """Sagas waiting for a step whose deadline passed before ``cutoff``."""
        ...


class OrderUnitOfWork(UnitOfWork):
    orders: OrderRepository
    sagas: SagaRepository
    saga: OrderSaga

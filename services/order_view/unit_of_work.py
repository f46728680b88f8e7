"""What the read model's projection works with: the order views, on one unit of work.

Production opens :class:`services.order_view.repository.SqlOrderViewUnitOfWork`; projection
tests open :class:`services.order_view.in_memory.InMemoryOrderViewUnitOfWork`.
"""

from __future__ import annotations

from typing import Protocol

from outboxkit import UnitOfWork
from services.order_view.projection import OrderView


class OrderViewRepository(Protocol):
    def load(self, order_id: str) -> OrderView:
        """The order's view (a new one if the order has none yet), locked until the commit."""
        ...

    def save(self, view: OrderView) -> None:
        """Write the view and the timeline entries it gained since it was loaded."""
        ...


class OrderViewUnitOfWork(UnitOfWork):
    views: OrderViewRepository

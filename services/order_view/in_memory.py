"""The read model's unit of work in memory, for its handler tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from outboxkit.testing import InMemoryRepository, InMemoryUnitOfWork
from services.order_view.projection import OrderView, TimelineEntry
from services.order_view.unit_of_work import OrderViewUnitOfWork


@dataclass
class StoredView:
    view: OrderView
    timeline: list[TimelineEntry] = field(default_factory=list)


class InMemoryOrderViews(InMemoryRepository[str, StoredView]):
    def load(self, order_id: str) -> OrderView:
        stored = self.get(order_id)
        return stored.view if stored is not None else OrderView(order_id)

    def save(self, view: OrderView) -> None:
        timeline = [*(self.timeline(view.order_id)), *view.timeline]
        view.timeline.clear()
        view.stored = True
        self.put(view.order_id, StoredView(view, timeline))

    def timeline(self, order_id: str) -> list[TimelineEntry]:
        stored = self.items.get(order_id)
        return list(stored.timeline) if stored else []


class InMemoryOrderViewUnitOfWork(InMemoryUnitOfWork, OrderViewUnitOfWork):
    views: InMemoryOrderViews

    def __init__(self) -> None:
        super().__init__()
        self.views = InMemoryOrderViews()

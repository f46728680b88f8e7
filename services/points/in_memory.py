"""The points service's unit of work in memory, for its handler tests."""

from __future__ import annotations

from collections.abc import Mapping

from outboxkit.testing import InMemoryRepository, InMemorySteps, InMemoryUnitOfWork
from services.points.domain import Redemption
from services.points.unit_of_work import PointsUnitOfWork


class InMemoryAccounts(InMemoryRepository[str, int]):
    def balance(self, customer_id: str) -> int:
        return self.items.get(customer_id, 0)

    def change(self, customer_id: str, points: int) -> int:
        self.items[customer_id] = self.items[customer_id] + points
        return self.items[customer_id]

    def set_balance(self, customer_id: str, balance: int) -> None:
        self.items[customer_id] = balance


class InMemoryPointsUnitOfWork(InMemoryUnitOfWork, PointsUnitOfWork):
    redemptions: InMemorySteps[Redemption]
    accounts: InMemoryAccounts

    def __init__(self, balances: Mapping[str, int] | None = None) -> None:
        super().__init__()
        self.redemptions = InMemorySteps(self, Redemption)
        self.accounts = InMemoryAccounts(balances)

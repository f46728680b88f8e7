"""What the points service's handlers work with: redemptions and balances on one unit of work.

Production opens :class:`services.points.repository.SqlPointsUnitOfWork`; handler tests open
:class:`services.points.in_memory.InMemoryPointsUnitOfWork`.
"""

from __future__ import annotations

from typing import Protocol

from outboxkit import StepRepository, UnitOfWork
from services.points.domain import Redemption


class AccountRepository(Protocol):
    def balance(self, customer_id: str) -> int:
        """The customer's balance (0 without an account), locked until the commit."""
        ...

    def change(self, customer_id: str, points: int) -> int:
        """Add ``points`` (negative: take them) to a balance read by :meth:`balance`; the new one."""
        ...

    def set_balance(self, customer_id: str, balance: int) -> None:
        """The operator's: set the balance (creating the account)."""
        ...


class PointsUnitOfWork(UnitOfWork):
    redemptions: StepRepository[Redemption]
    accounts: AccountRepository

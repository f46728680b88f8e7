"""The points service's SQL repositories and unit of work: redemptions and balances in points_db."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.dialects.mysql import insert as mysql_insert

from outboxkit import BatchRows, OutboxRows, SqlUnitOfWork, emit_changes, save_step, utc_now
from services.contracts import DeductPoints, StockReserved
from services.points.domain import Redemption
from services.points.tables import accounts, redemptions
from services.points.unit_of_work import PointsUnitOfWork

log = logging.getLogger(__name__)

_REDEMPTIONS = (
    select(redemptions)
    .where(redemptions.c.order_id.in_(bindparam("order_ids", expanding=True)))
    .with_for_update()
)
# Locked in customer order: two batches over the same customers cannot deadlock.
_ACCOUNTS = (
    select(accounts.c.customer_id, accounts.c.balance)
    .where(accounts.c.customer_id.in_(bindparam("customers", expanding=True)))
    .order_by(accounts.c.customer_id)
    .with_for_update()
)


def _read_redemptions(connection: Connection, order_ids: list[str]) -> dict[str, Redemption]:
    return {
        row.order_id: Redemption(
            row.order_id,
            Redemption.labels.status(row.status),
            row.version,
            row.reason,
            stored_version=row.version,
            customer_id=row.customer_id,
            points=row.points,
        )
        for row in connection.execute(_REDEMPTIONS, {"order_ids": order_ids})
    }


def _read_accounts(connection: Connection, customers: list[str]) -> dict[str, int]:
    return {row.customer_id: row.balance for row in connection.execute(_ACCOUNTS, {"customers": customers})}


class SqlRedemptions:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def rows(self) -> BatchRows[str, Redemption]:
        return BatchRows.of(self._uow, redemptions, "order_id", _read_redemptions)

    def load(self, order_id: str) -> Redemption:
        """The order's redemption (NEW when there is none yet), its row locked (with those of
        the rest of the batch)."""
        return self.rows().get(order_id) or Redemption(order_id)

    def save(self, redemption: Redemption) -> None:
        emit_changes(self._uow, redemption)
        save_step(
            self.rows(),
            redemption,
            {"customer_id": redemption.customer_id, "points": redemption.points, "updated_at": utc_now()},
        )
        log.info(
            "redemption %s %s (v%d): %d points of %s%s",
            redemption.order_id,
            redemption.stored_status,
            redemption.version,
            redemption.points,
            redemption.customer_id or "-",
            f", {redemption.reason}" if redemption.reason else "",
        )


class SqlAccounts:
    def __init__(self, uow: SqlPointsUnitOfWork) -> None:
        self._uow = uow

    def _customers_in_batch(self) -> set[str]:
        """The balances the batch's records may change: their customers, and those of the
        redemptions read so far (a return names none of its own)."""
        customers = {
            event.customer_id
            for event in self._uow.batch
            if isinstance(event, StockReserved | DeductPoints) and event.customer_id
        }
        customers.update(r.customer_id for r in self._uow.redemptions.rows().read() if r.customer_id)
        return customers

    def _rows(self) -> BatchRows[str, int]:
        return BatchRows.of(self._uow, accounts, "customer_id", _read_accounts, self._customers_in_batch)

    def balance(self, customer_id: str) -> int:
        return self._rows().get(customer_id) or 0

    def change(self, customer_id: str, points: int) -> int:
        rows = self._rows()
        balance = rows.get(customer_id)
        if balance is None:
            raise LookupError(f"no points account for {customer_id}")
        rows.put(customer_id, balance + points, {"balance": balance + points, "updated_at": utc_now()})
        return balance + points

    def set_balance(self, customer_id: str, balance: int) -> None:
        statement = mysql_insert(accounts).values(
            customer_id=customer_id, balance=balance, updated_at=utc_now()
        )
        self._uow.connection.execute(statement.on_duplicate_key_update(balance=balance, updated_at=utc_now()))


def balances(connection: Connection, customers: list[str]) -> dict[str, int]:
    """The customers' balances as committed (no lock): for readers."""
    query = select(accounts.c.customer_id, accounts.c.balance).where(accounts.c.customer_id.in_(customers))
    return {row.customer_id: row.balance for row in connection.execute(query)}


class SqlPointsUnitOfWork(SqlUnitOfWork, PointsUnitOfWork):
    """The points service's transaction: redemptions and balances in points_db, with its outbox."""

    redemptions: SqlRedemptions  # its repositories, as the SQL side of them
    accounts: SqlAccounts

    def __init__(self, engine: Engine, outbox: OutboxRows | None = None) -> None:
        super().__init__(engine, outbox)
        self.redemptions = SqlRedemptions(self)
        self.accounts = SqlAccounts(self)

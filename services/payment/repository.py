"""Loads and saves payments inside a unit of work's transaction (with the events they caused)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import bindparam, select

from eventcore.aggregate import emit_changes, save_step
from eventcore.db import UnitOfWork
from services.payment.domain import Payment
from services.payment.tables import payments

log = logging.getLogger(__name__)

_PAYMENT = select(payments).where(payments.c.order_id == bindparam("order_id")).with_for_update()


class Payments:
    def load(self, uow: UnitOfWork, order_id: str) -> Payment:
        """The order's payment (NEW when there is none yet), its row locked."""
        row = uow.connection.execute(_PAYMENT, {"order_id": order_id}).first()
        if row is None:
            return Payment(order_id)
        return Payment(order_id, Payment.labels.status(row.status), row.version, row.reason,
                       stored_version=row.version, amount_cents=row.amount_cents, currency=row.currency,
                       gateway_reference=row.gateway_reference, refund_reference=row.refund_reference)

    def save(self, uow: UnitOfWork, payment: Payment) -> None:
        emit_changes(uow, payment)
        save_step(uow.connection, payments, {"order_id": payment.order_id}, payment, {
            "amount_cents": payment.amount_cents, "currency": payment.currency,
            "gateway_reference": payment.gateway_reference, "refund_reference": payment.refund_reference,
            "updated_at": datetime.now(UTC).replace(tzinfo=None)})
        log.info("payment %s %s (v%d): %d %s%s", payment.order_id, payment.stored_status, payment.version,
                 payment.amount_cents, payment.currency, f", {payment.reason}" if payment.reason else "")


payment_repository = Payments()

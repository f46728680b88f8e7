"""The payment service's handlers: charge on StockReserved, refund on OrderCancelled."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from eventcore.applier import Handler
from eventcore.db import UnitOfWork
from eventcore.outbox import OutboxEvent
from eventcore.records import ConsumedEvent
from services.payment.domain import PAYMENT, PaymentStatus
from services.payment.gateway import PaymentGateway
from services.payment.tables import payments

log = logging.getLogger(__name__)
AGGREGATE_TYPE = "payment"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _current(connection: Connection, order_id: str):  # type: ignore[no-untyped-def]
    return connection.execute(
        select(payments).where(payments.c.order_id == order_id).with_for_update()
    ).first()


def _insert(connection: Connection, order_id: str, **values: object) -> None:
    # A plain insert: the row is new (checked under lock), and the primary key refuses a
    # second payment for the order should that ever not hold.
    connection.execute(payments.insert(), {"order_id": order_id, "updated_at": _now(), **values})


def handlers(gateway: PaymentGateway) -> dict[str, Handler]:
    def on_stock_reserved(uow: UnitOfWork, event: ConsumedEvent) -> None:
        order_id = event.order_id
        row = _current(uow.connection, order_id)
        status = PaymentStatus(row.status) if row else PaymentStatus.NEW
        if not PAYMENT.allows(status, "Approved"):
            log.info("payment %s: StockReserved ignored (payment is %s)", order_id, status)
            return
        amount, currency = int(event.value["amountCents"]), str(event.value["currency"])
        result = gateway.charge(order_id, amount, currency)
        trigger = "Approved" if result.approved else "Declined"
        new_status = PAYMENT.next_state(status, trigger)
        _insert(uow.connection, order_id, status=new_status.value, version=1, amount_cents=amount,
              currency=currency, gateway_reference=result.reference, reason=result.reason)
        if result.approved:
            uow.emit(OutboxEvent(AGGREGATE_TYPE, order_id, "PaymentCompleted", 1,
                                 {"orderId": order_id, "paymentId": result.reference,
                                  "amountCents": amount}))
            log.info("charged %d %s for order %s", amount, currency, order_id)
        else:
            uow.emit(OutboxEvent(AGGREGATE_TYPE, order_id, "PaymentFailed", 1,
                                 {"orderId": order_id, "reason": result.reason}))
            log.info("charge for order %s declined: %s", order_id, result.reason)

    def on_order_cancelled(uow: UnitOfWork, event: ConsumedEvent) -> None:
        order_id = event.order_id
        row = _current(uow.connection, order_id)
        status = PaymentStatus(row.status) if row else PaymentStatus.NEW
        trigger = "Refund" if status is PaymentStatus.COMPLETED else "Void"
        new_status = PAYMENT.next_state_or_none(status, trigger, f"payment {order_id}: OrderCancelled")
        if new_status is None:
            return
        if new_status is PaymentStatus.VOIDED:
            _insert(uow.connection, order_id, status=new_status.value, version=1, amount_cents=0,
                  currency="XXX", reason="order cancelled before payment")
            return
        refund = gateway.refund(f"refund-{order_id}", row.gateway_reference, row.amount_cents)
        uow.connection.execute(payments.update().where(payments.c.order_id == order_id).values(
            status=new_status.value, version=row.version + 1, refund_reference=refund,
            updated_at=_now()))
        uow.emit(OutboxEvent(AGGREGATE_TYPE, order_id, "PaymentRefunded", row.version + 1,
                             {"orderId": order_id, "paymentId": row.gateway_reference,
                              "amountCents": row.amount_cents}))
        log.info("refunded %d for cancelled order %s", row.amount_cents, order_id)

    return {"StockReserved": on_stock_reserved, "OrderCancelled": on_order_cancelled}

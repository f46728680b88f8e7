"""Payments per order: pure rules, no I/O.

One payment per order (the orderId is the idempotency key). A payment is refunded at most once,
and an order cancelled before payment was requested is VOIDED so a late request cannot charge.
"""

from __future__ import annotations

from enum import StrEnum

from eventcore.saga import StateMachine


class PaymentStatus(StrEnum):
    NEW = "NEW"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"


PAYMENT: StateMachine[PaymentStatus] = StateMachine([
    ([PaymentStatus.NEW], "Approved", PaymentStatus.COMPLETED),
    ([PaymentStatus.NEW], "Declined", PaymentStatus.FAILED),
    ([PaymentStatus.COMPLETED], "Refund", PaymentStatus.REFUNDED),
    ([PaymentStatus.NEW], "Void", PaymentStatus.VOIDED),
])

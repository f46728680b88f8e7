"""Payments per order: pure rules, no I/O.

One payment per order (the orderId is the idempotency key) and a compensable step of the saga:
a payment is refunded at most once, and an order cancelled before payment was requested is
VOIDED so a late request cannot charge (the rules of :class:`outboxkit.sagas.steps.CompensableStep`).
"""

from __future__ import annotations

from dataclasses import dataclass

from outboxkit import CompensableStep, StepLabels
from services.contracts import PaymentCompleted, PaymentFailed, PaymentRefunded

NO_CURRENCY = "XXX"  # ISO 4217's "no currency", for a payment voided before any charge


@dataclass
class Payment(CompensableStep):
    labels = StepLabels(done="COMPLETED", refused="FAILED", compensated="REFUNDED")

    amount_cents: int = 0
    currency: str = NO_CURRENCY
    gateway_reference: str | None = None
    refund_reference: str | None = None

    @property
    def order_id(self) -> str:
        return self.saga_id

    def charged(
        self,
        amount_cents: int,
        currency: str,
        approved: bool,
        reference: str | None,
        decline_reason: str | None,
    ) -> None:
        """The gateway's answer to the charge of the order's amount."""
        self.amount_cents, self.currency, self.gateway_reference = amount_cents, currency, reference
        if approved:
            assert reference is not None
            self._done(PaymentCompleted(self.order_id, reference, amount_cents))
        else:
            reason = decline_reason or "declined"
            self._refused(PaymentFailed(self.order_id, reason), reason)

    def refunded(self, refund_reference: str) -> PaymentRefunded:
        """The gateway refunded the charge (the compensation); what that announces."""
        self.refund_reference = refund_reference
        return PaymentRefunded(self.order_id, self.gateway_reference or "", self.amount_cents)

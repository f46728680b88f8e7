"""Points redemptions: pure rules, no I/O.

A customer holds a points balance; an order may redeem some of them (one point is worth one
cent). A redemption is per order (the orderId is its aggregate id) and a compensable step of the
saga: the points are deducted once or refused once, returned at most once and only if they were
deducted, and an order cancelled before its points were asked for is VOIDED so a late request
cannot deduct them (the rules of :class:`outboxkit.sagas.steps.CompensableStep`).
"""

from __future__ import annotations

from dataclasses import dataclass

from outboxkit import MAX_INT64, CompensableStep, StepLabels, bounded_int, bounded_text
from services.contracts import PointsDeducted, PointsRejected, PointsReturned

CUSTOMER_LENGTH = 64  # accounts.customer_id
MAX_BALANCE = MAX_INT64


def valid_customer(customer_id: str) -> str:
    return bounded_text("customer id", customer_id, CUSTOMER_LENGTH)


def valid_balance(balance: int) -> int:
    return bounded_int("points balance", balance, 0, MAX_BALANCE)


@dataclass
class Redemption(CompensableStep):
    labels = StepLabels(done="DEDUCTED", refused="REJECTED", compensated="RETURNED")

    customer_id: str = ""
    points: int = 0

    @property
    def order_id(self) -> str:
        return self.saga_id

    def deduct(
        self, customer_id: str, points: int, balance: int, amount_cents: int, currency: str, flow: str
    ) -> None:
        """Take ``points`` from a ``balance`` that covers them, or refuse the order; the balance's
        change is the caller's to write. ``amount_cents`` is what is left to charge."""
        self.customer_id, self.points = customer_id, points
        if balance >= points:
            self._done(PointsDeducted(self.order_id, customer_id, points, amount_cents, currency, flow))
        else:
            reason = f"insufficient points: {customer_id} has {balance}, the order redeems {points}"
            self._refused(PointsRejected(self.order_id, reason), reason)

    def returned(self) -> PointsReturned:
        """What giving the deducted points back (the compensation) announces."""
        return PointsReturned(self.order_id, self.customer_id, self.points)

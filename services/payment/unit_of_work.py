"""What the payment service's handlers work with: its payments and the gateway, on one unit of work.

The gateway is not transactional; it is on the unit of work because it is what the handlers
reach outside the process, swapped for a fake with the repositories in handler tests. Its
idempotency key (the order id) is what makes a repeated call charge once.
"""

from __future__ import annotations

from outboxkit import StepRepository, UnitOfWork
from services.payment.domain import Payment
from services.payment.gateway import PaymentGateway


class PaymentUnitOfWork(UnitOfWork):
    payments: StepRepository[Payment]
    gateway: PaymentGateway

"""The payment service's unit of work in memory (with a simulated gateway), for its handler tests."""

from __future__ import annotations

from outboxkit.testing import InMemorySteps, InMemoryUnitOfWork
from services.payment.domain import Payment
from services.payment.gateway import ChargeLedger, PaymentGateway, SimulatedGateway
from services.payment.unit_of_work import PaymentUnitOfWork


class InMemoryPaymentUnitOfWork(InMemoryUnitOfWork, PaymentUnitOfWork):
    payments: InMemorySteps[Payment]

    def __init__(self, gateway: PaymentGateway | None = None) -> None:
        super().__init__()
        self.payments = InMemorySteps(self, Payment)
        self.gateway = gateway or SimulatedGateway(ledger=ChargeLedger(":memory:"))

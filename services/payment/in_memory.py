"""The payment service's unit of work in memory (with a simulated gateway), for its handler tests."""

from __future__ import annotations

from eventcore import InMemoryRepository, InMemoryUnitOfWork, emit_changes
from services.payment.domain import Payment
from services.payment.gateway import ChargeLedger, PaymentGateway, SimulatedGateway
from services.payment.unit_of_work import PaymentUnitOfWork


class InMemoryPayments(InMemoryRepository[str, Payment]):
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        super().__init__()
        self._uow = uow

    def load(self, order_id: str) -> Payment:
        return self.get(order_id) or Payment(order_id)

    def save(self, payment: Payment) -> None:
        emit_changes(self._uow, payment)
        payment.stored_version = payment.version
        self.put(payment.order_id, payment)


class InMemoryPaymentUnitOfWork(InMemoryUnitOfWork, PaymentUnitOfWork):
    def __init__(self, gateway: PaymentGateway | None = None) -> None:
        super().__init__()
        self.payments = InMemoryPayments(self)
        self.gateway = gateway or SimulatedGateway(ledger=ChargeLedger(":memory:"))

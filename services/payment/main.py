"""Payment service entry point: ``payment-service migrate | run | dlq | prune-outbox``.

The simulated gateway is configured by PAYMENT_DECLINE_RATE (0..1), PAYMENT_LATENCY_MS and
PAYMENT_LIMIT_CENTS (charges above it are declined); it keeps its idempotency keys in
PAYMENT_GATEWAY_LEDGER (a SQLite file, by default .state/payment-gateway.sqlite).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from outboxkit import ServiceContext, ServiceDefinition, Settings, SettingsError, service_main
from services import SCHEMAS
from services.payment.commands import HANDLERS
from services.payment.gateway import ChargeLedger, LedgerUnavailableError, SimulatedGateway
from services.payment.repository import SqlPaymentUnitOfWork
from services.payment.settings import PaymentSettings
from services.payment.tables import metadata


def gateway_from(settings: Settings) -> SimulatedGateway:
    own = PaymentSettings.read(settings)
    try:
        ledger = ChargeLedger(own.gateway_ledger)
    except LedgerUnavailableError as exc:
        raise SettingsError(f"PAYMENT_GATEWAY_LEDGER: {exc}") from None
    return SimulatedGateway(
        decline_rate=own.decline_rate,
        latency_s=own.latency_ms / 1000.0,
        limit_cents=own.limit_cents,
        ledger=ledger,
    )


def units_of_work(context: ServiceContext[Any]) -> Callable[[], SqlPaymentUnitOfWork]:
    gateway = gateway_from(context.settings)  # one per process: it holds the ledger's connection
    return lambda: SqlPaymentUnitOfWork(context.engine, context.outbox, gateway)


SERVICE = ServiceDefinition(
    name="payment",
    module=__spec__.name,  # not __name__: that is "__main__" under `python -m`
    schemas=SCHEMAS,
    health_port=9103,
    metadata=metadata,
    consumes=["inventory", "points", "order", "payment.commands"],
    handlers=HANDLERS,
    unit_of_work=units_of_work,
)


def main(argv: list[str] | None = None) -> int:
    return service_main(SERVICE, argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""Payment service entry point: ``payment-service migrate | run | dlq | prune-outbox``.

The simulated gateway is configured by PAYMENT_DECLINE_RATE (0..1), PAYMENT_LATENCY_MS and
PAYMENT_LIMIT_CENTS (charges above it are declined); it keeps its idempotency keys in
PAYMENT_GATEWAY_LEDGER (a SQLite file, by default .state/payment-gateway.sqlite).
"""

from __future__ import annotations

from collections.abc import Mapping

from eventcore import (
    Event,
    ServiceContext,
    ServiceDefinition,
    Settings,
    SettingsError,
    TypedHandler,
    service_main,
)
from services import SCHEMAS
from services.payment.commands import handlers
from services.payment.gateway import ChargeLedger, LedgerUnavailableError, SimulatedGateway
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


def payment_handlers(context: ServiceContext) -> Mapping[type[Event], TypedHandler]:
    return handlers(gateway_from(context.settings))


SERVICE = ServiceDefinition(
    name="payment",
    module=__spec__.name,  # not __name__: that is "__main__" under `python -m`
    schemas=SCHEMAS,
    health_port=9103,
    metadata=metadata,
    consumes=["inventory", "order", "payment.commands"],
    handlers=payment_handlers,
)


def main(argv: list[str] | None = None) -> int:
    return service_main(SERVICE, argv)


if __name__ == "__main__":
    raise SystemExit(main())

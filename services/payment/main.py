"""Payment service entry point: ``payment-service migrate | run``.

The simulated gateway is configured by PAYMENT_DECLINE_RATE (0..1), PAYMENT_LATENCY_MS and
PAYMENT_LIMIT_CENTS (charges above it are declined).
"""

from __future__ import annotations

import os

from eventcore.service_cli import ServiceDefinition, service_main
from services.payment.commands import handlers
from services.payment.gateway import SimulatedGateway
from services.payment.tables import metadata


def gateway_from_env() -> SimulatedGateway:
    return SimulatedGateway(
        decline_rate=float(os.environ.get("PAYMENT_DECLINE_RATE", "0")),
        latency_s=float(os.environ.get("PAYMENT_LATENCY_MS", "0")) / 1000.0,
        limit_cents=int(os.environ.get("PAYMENT_LIMIT_CENTS", "10000000")),
    )


def main(argv: list[str] | None = None) -> int:
    service = ServiceDefinition(
        name="payment",
        metadata=metadata,
        consumes=["inventory", "order"],
        handlers=handlers(gateway_from_env()),
    )
    return service_main(service, argv)


if __name__ == "__main__":
    raise SystemExit(main())

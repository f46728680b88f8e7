"""Payment service entry point: ``payment-service migrate | run``.

The simulated gateway is configured by PAYMENT_DECLINE_RATE (0..1), PAYMENT_LATENCY_MS and
PAYMENT_LIMIT_CENTS (charges above it are declined); it keeps its idempotency keys in
PAYMENT_GATEWAY_LEDGER (a SQLite file, by default .state/payment-gateway.sqlite).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from eventcore.service_cli import ServiceDefinition, service_main
from eventcore.settings import REPO_ROOT
from services.payment.commands import handlers
from services.payment.gateway import ChargeLedger, LedgerUnavailableError, SimulatedGateway
from services.payment.tables import metadata

DEFAULT_LEDGER = REPO_ROOT / ".state" / "payment-gateway.sqlite"


def ledger_path() -> Path:
    return Path(os.environ.get("PAYMENT_GATEWAY_LEDGER") or DEFAULT_LEDGER)


def gateway_from_env() -> SimulatedGateway:
    return SimulatedGateway(
        decline_rate=float(os.environ.get("PAYMENT_DECLINE_RATE", "0")),
        latency_s=float(os.environ.get("PAYMENT_LATENCY_MS", "0")) / 1000.0,
        limit_cents=int(os.environ.get("PAYMENT_LIMIT_CENTS", "10000000")),
        ledger=ChargeLedger(ledger_path()),
    )


def main(argv: list[str] | None = None) -> int:
    try:
        gateway = gateway_from_env()
    except (LedgerUnavailableError, ValueError) as exc:
        print(f"payment-service: error: {exc} (check the PAYMENT_* settings)", file=sys.stderr)
        return 2
    service = ServiceDefinition(
        name="payment",
        metadata=metadata,
        consumes=["inventory", "order"],
        handlers=handlers(gateway),
    )
    return service_main(service, argv)


if __name__ == "__main__":
    raise SystemExit(main())

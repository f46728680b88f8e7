"""The payment service's own settings (the simulated gateway's), read through
:class:`outboxkit.base.settings.Settings` and refused there in one line when malformed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from outboxkit import Settings
from services import ROOT

DEFAULT_LEDGER = ROOT / ".state" / "payment-gateway.sqlite"


@dataclass(frozen=True)
class PaymentSettings:
    decline_rate: float  # the share of charges the simulated gateway declines
    latency_ms: float  # how long each of its calls takes
    limit_cents: int  # charges above this are declined
    gateway_ledger: Path  # where the simulated gateway remembers its charges

    @classmethod
    def read(cls, settings: Settings) -> PaymentSettings:
        return cls(
            decline_rate=settings.get_float("PAYMENT_DECLINE_RATE", 0.0, 0.0, 1.0),
            latency_ms=settings.get_float("PAYMENT_LATENCY_MS", 0.0, 0.0, 60_000.0),
            limit_cents=settings.get_int("PAYMENT_LIMIT_CENTS", 10_000_000, 0),
            gateway_ledger=Path(settings.get("PAYMENT_GATEWAY_LEDGER", str(DEFAULT_LEDGER))),
        )

"""Adapter for the external payment gateway, and a simulated one standing in for it.

The gateway is called with the orderId as its idempotency key: asking twice for the same key
returns the first answer and never charges twice (real gateways offer the same contract).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    reference: str | None
    reason: str | None = None


class PaymentGateway(Protocol):
    def charge(self, idempotency_key: str, amount_cents: int, currency: str) -> ChargeResult: ...

    def refund(self, idempotency_key: str, reference: str, amount_cents: int) -> str: ...


class SimulatedGateway:
    """Declines a configurable share of charges (decided by the key, so retries agree) and
    every charge above ``limit_cents``; waits ``latency_s`` per call like a remote system."""

    def __init__(self, decline_rate: float = 0.0, latency_s: float = 0.0,
                 limit_cents: int = 10_000_000) -> None:
        if not 0.0 <= decline_rate <= 1.0:
            raise ValueError(f"decline rate must be between 0 and 1, got {decline_rate}")
        self.decline_rate = decline_rate
        self.latency_s = latency_s
        self.limit_cents = limit_cents
        self._charges: dict[str, ChargeResult] = {}
        self._refunds: dict[str, str] = {}
        self._lock = threading.Lock()

    def _declined_by_chance(self, key: str) -> bool:
        bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
        return bucket < self.decline_rate

    def charge(self, idempotency_key: str, amount_cents: int, currency: str) -> ChargeResult:
        time.sleep(self.latency_s)
        with self._lock:
            if idempotency_key in self._charges:
                return self._charges[idempotency_key]
            if amount_cents > self.limit_cents:
                result = ChargeResult(False, None, f"amount {amount_cents} {currency} over the "
                                                   f"card limit of {self.limit_cents}")
            elif self._declined_by_chance(idempotency_key):
                result = ChargeResult(False, None, "declined by issuer")
            else:
                result = ChargeResult(True, f"pay-{uuid.uuid4()}")
            self._charges[idempotency_key] = result
            return result

    def refund(self, idempotency_key: str, reference: str, amount_cents: int) -> str:
        time.sleep(self.latency_s)
        with self._lock:
            return self._refunds.setdefault(idempotency_key, f"refund-{uuid.uuid4()}")

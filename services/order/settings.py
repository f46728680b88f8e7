"""The order service's own settings (the saga's timeouts and default style), read through
:class:`outboxkit.base.settings.Settings` and refused there in one line when malformed."""

from __future__ import annotations

from dataclasses import dataclass

from outboxkit import Settings, SettingsError
from services.contracts import CHOREOGRAPHED, ORCHESTRATED


@dataclass(frozen=True)
class OrderSettings:
    saga_timeout_s: float  # a choreographed order with no final reply by then is cancelled
    saga_flow: str  # the style of an order placed without one
    step_timeout_s: float  # orchestrated orders: how long the saga waits for each step's reply
    lag_allowance_s: float  # the most a saga deadline is pushed back while the pipeline is behind

    @classmethod
    def read(cls, settings: Settings) -> OrderSettings:
        flow = settings.get("ORDER_SAGA_FLOW", CHOREOGRAPHED).strip().lower()
        if flow not in (CHOREOGRAPHED, ORCHESTRATED):
            raise SettingsError(f"ORDER_SAGA_FLOW={flow!r} is not {CHOREOGRAPHED} or {ORCHESTRATED}")
        return cls(
            saga_timeout_s=settings.get_float("ORDER_SAGA_TIMEOUT_S", 60.0, 0.0, exclusive_minimum=True),
            saga_flow=flow,
            step_timeout_s=settings.get_float("ORDER_SAGA_STEP_TIMEOUT_S", 30.0, 0.0, exclusive_minimum=True),
            lag_allowance_s=settings.get_float("ORDER_SAGA_LAG_ALLOWANCE_S", 600.0, 0.0),
        )

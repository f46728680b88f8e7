"""The API's request bodies, checked field by field before anything is written."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from outboxkit import MAX_INT32, MAX_INT64
from services.contracts import FLOWS
from services.order.domain import CUSTOMER_LENGTH, SKU_LENGTH

MAX_LINES = 100


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: StrictStr = Field(min_length=1, max_length=SKU_LENGTH)
    quantity: StrictInt = Field(ge=1, le=MAX_INT32)
    unitPriceCents: StrictInt = Field(ge=0, le=MAX_INT64)


class OrderIn(BaseModel):
    """Shaped like the OrderCreated event (without what the service decides: id, total)."""

    model_config = ConfigDict(extra="forbid")

    customerId: StrictStr = Field(min_length=1, max_length=CUSTOMER_LENGTH)
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    currency: StrictStr = Field(default="EUR", pattern=r"^[A-Za-z]{3}$")
    flow: Literal[FLOWS] | None = None  # type: ignore[valid-type]
    points: StrictInt = Field(default=0, ge=0, le=MAX_INT64, description="points redeemed (1 point = 1 cent)")

    def canonical(self) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        if not body["points"]:
            del body["points"]  # as a request from before the field: its key's fingerprint is unchanged
        return body


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StrictStr = Field(default="cancelled by customer", min_length=1, max_length=200)

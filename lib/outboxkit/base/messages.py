"""The two shapes a message takes in a service: the event it writes to its outbox, and the event
it consumed from a topic, decoded. Plain values: every layer above passes them around."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from outboxkit.base.ids import new_id


@dataclass(frozen=True)
class OutboxEvent:
    """An event a service promises to publish, with the envelope every event carries."""

    aggregate_type: str
    aggregate_id: str
    event_type: str
    aggregate_version: int
    payload: Mapping[str, Any]
    event_id: str = field(default_factory=new_id)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def record(self) -> dict[str, Any]:
        """The Avro record: the payload fields plus the envelope fields."""
        return {
            **self.payload,
            "eventId": self.event_id,
            "aggregateVersion": self.aggregate_version,
            "occurredAt": self.occurred_at,
        }


@dataclass(frozen=True)
class ConsumedEvent:
    """A record a consumer fetched, decoded: where it was, its envelope and its Avro body."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    event_id: str
    event_type: str
    aggregate_version: int
    value: dict[str, Any]
    schema_id: int
    received_at: float

    def latency_ms(self) -> float | None:
        """Commit-to-consume latency, from the producer's own timestamp (not Debezium's ts_ms)."""
        occurred = self.value.get("occurredAt")
        if occurred is None:
            return None
        return float(self.received_at - occurred.timestamp()) * 1000.0

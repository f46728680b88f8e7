"""Dual write: the transactional outbox.

A service never publishes to Kafka. It writes its domain rows and an outbox row in one local
transaction (see :class:`outboxkit.storage.db.UnitOfWork`); Debezium reads the committed outbox insert
from the binlog and the Outbox Event Router publishes it. Either both the state change and the
event exist, or neither does.

Outbox rows are kept after publication and pruned by :func:`prune_outbox` (CLI:
``<service>-service prune-outbox``) rather than deleted in the same transaction: the rows are
an audit trail of what each service promised to publish, the router ignores the deletes, and
pruning in batches off the hot path keeps the write transaction to one insert. A prune never
deletes a row the connector has not confirmed publishing (:func:`plan_prune`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select

from outboxkit.base import tracing
from outboxkit.base.clock import utc_now
from outboxkit.base.errors import InvalidValueError
from outboxkit.base.messages import OutboxEvent
from outboxkit.base.topics import topic_for
from outboxkit.serialization.avro import AvroEventSerializer, SchemaCatalog
from outboxkit.storage.db import insert_of, paced_batches

log = logging.getLogger(__name__)

# Kafka's default max.request.size is 1 MiB and a larger record fails the Connect task for
# good; leave headroom for the key, the headers and the record framing.
MAX_PAYLOAD_BYTES = 900 * 1024


class PayloadTooLargeError(InvalidValueError):
    """An event payload would be too large for Connect to publish."""


class OutboxWriter:
    """Serializes an event against its registered schema and inserts it into the outbox."""

    def __init__(
        self,
        table: Table,
        catalog: SchemaCatalog,
        serializer: AvroEventSerializer,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.table = table
        self._catalog = catalog
        self._serializer = serializer
        self._max_payload_bytes = max_payload_bytes

    def encode(self, event: OutboxEvent) -> bytes:
        schema = self._catalog.for_event_type(event.event_type)
        if schema.aggregate_type != event.aggregate_type:
            raise ValueError(
                f"{event.event_type} belongs to aggregate type {schema.aggregate_type!r} "
                f"(schemas/avro/{schema.aggregate_type}/), not {event.aggregate_type!r}"
            )
        payload = self._serializer.serialize(topic_for(event.aggregate_type), schema, event.record())
        if len(payload) > self._max_payload_bytes:
            raise PayloadTooLargeError(
                f"{event.event_type} for {event.aggregate_id} is {len(payload)} bytes; "
                f"the outbox accepts at most {self._max_payload_bytes}"
            )
        return payload

    def register_schemas(self, aggregate_type: str) -> list[str]:
        """Register the schemas of the events an aggregate emits, so a bad contract fails at
        start-up rather than at the first write; returns the event types registered."""
        registered = []
        for schema in self._catalog:
            if schema.aggregate_type == aggregate_type:
                self._serializer.schema_id(topic_for(aggregate_type), schema)
                registered.append(schema.event_type)
        return registered

    def row(self, event: OutboxEvent) -> dict[str, Any]:
        """The outbox row of ``event``, encoded (and so checked) now, written later; it carries
        the trace of the handler running now, or starts the flow's trace."""
        trace = tracing.for_new_event(event.aggregate_id)
        return {
            "id": event.event_id,
            "aggregatetype": event.aggregate_type,
            "aggregateid": event.aggregate_id,
            "type": event.event_type,
            "aggregate_version": event.aggregate_version,
            "payload": self.encode(event),
            "occurred_at": event.occurred_at.astimezone(UTC).replace(tzinfo=None),
            "correlation_id": trace.correlation_id,
            # A flow's first event is its own cause (no null header for consumers to trip on).
            "causation_id": trace.causation_id or event.event_id,
            "traceparent": trace.traceparent,
        }

    def write(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert outbox rows, in their order, with one statement (the binlog keeps the order)."""
        if rows:
            connection.execute(insert_of(self.table), rows)

    def append(self, connection: Connection, event: OutboxEvent) -> None:
        self.write(connection, [self.row(event)])


@dataclass(frozen=True)
class PrunePlan:
    """What a prune would delete, after the safety rule has had its say."""

    requested_cutoff: datetime  # now - retention
    published_through: datetime  # the connector has published every row that occurred before this
    deletable: int
    oldest: datetime | None
    newest: datetime | None
    kept_unconfirmed: int  # rows past retention that the connector has not confirmed yet
    total: int

    @property
    def cutoff(self) -> datetime:
        return min(self.requested_cutoff, self.published_through)


def prune_cutoff(retention: timedelta, published_through: datetime) -> datetime:
    """The rule itself: rows that occurred before this may go (older than ``retention`` AND
    before what the connector has confirmed publishing)."""
    if retention <= timedelta(0):
        raise ValueError(f"retention must be more than zero, not {retention}")
    return min(utc_now() - retention, published_through)


def plan_prune(
    connection: Connection, table: Table, retention: timedelta, published_through: datetime
) -> PrunePlan:
    """Rows older than ``retention`` AND older than what the connector has confirmed publishing.

    ``published_through`` comes from the connector's committed offset (see
    :func:`outboxkit.cdc.progress.published_through`): a row newer than that may not be on its
    topic yet, and deleting it would lose the event for good, so it is kept whatever its age.
    """
    cutoff = prune_cutoff(retention, published_through)
    requested = utc_now() - retention
    occurred = table.c.occurred_at
    deletable, oldest, newest = connection.execute(
        select(func.count(), func.min(occurred), func.max(occurred)).where(occurred < cutoff)
    ).one()
    kept = 0
    if published_through < requested:
        kept = connection.execute(
            select(func.count()).where(occurred >= published_through, occurred < requested)
        ).scalar_one()
    total = connection.execute(select(func.count()).select_from(table)).scalar_one()
    return PrunePlan(requested, published_through, deletable, oldest, newest, kept, total)


def prune_outbox(
    connection: Connection,
    table: Table,
    before: datetime,
    batch_size: int = 5000,
    on_batch: Callable[[int], None] | None = None,
    max_batches: int | None = None,
    rest_ratio: float = 0.0,
) -> int:
    """Delete outbox rows that occurred before ``before``, in batches (at most ``max_batches``,
    paced by ``rest_ratio``: :func:`outboxkit.storage.db.paced_batches`); returns how many went."""
    removed = 0
    for _ in paced_batches(max_batches, rest_ratio):
        result = connection.execute(
            delete(table).where(table.c.occurred_at < before).with_dialect_options(mysql_limit=batch_size)
        )
        connection.commit()
        removed += result.rowcount
        if on_batch:
            on_batch(removed)
        if result.rowcount < batch_size:
            return removed
    return removed

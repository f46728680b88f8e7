"""The record-applying step, apart from the Kafka loop: records in, one database transaction.

Records are decoded (a record whose declared event type the group does not handle is passed
over unread), then, in ONE transaction, judged by the guard (:mod:`outboxkit.consuming.guard`:
parking, inbox, version guard) and the applied ones handed to their handlers, which read and
write each table once for the whole batch (:mod:`outboxkit.storage.batch_rows`); then one commit.
A fetch's records are applied together; a record applied on its own is a batch of one: the same
code, the same statements. Anything that raises undoes the whole transaction. The Kafka loop
(:mod:`outboxkit.consuming.pipeline`) decides what a failure means and when offsets move; this
module knows nothing about partitions or offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from outboxkit.base import tracing
from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.topics import HEADER_EVENT_TYPE, retry_topic_for
from outboxkit.consuming.apply_hooks import ApplyHooks, NoHooks
from outboxkit.consuming.dispatch import EventRoutes
from outboxkit.consuming.guard import Delivery, GuardTables, Outcome, Verdict, guard
from outboxkit.dead_letters.queue import DeadLetterRow, SourceRecord
from outboxkit.domain.unit_of_work import UnitOfWork
from outboxkit.kafka.records import Record, decode
from outboxkit.serialization.avro import AvroEventDeserializer

__all__ = ["Outcome", "RecordApplier", "Result"]


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    event: ConsumedEvent | None  # None when ignored before decoding
    ahead: DeadLetterRow | None = None  # for PARK / STILL_PARKED: what it waits behind


class RecordApplier:
    """Applies the records of one consumer group through its ``routes``."""

    def __init__(
        self,
        group_id: str,
        routes: EventRoutes[Any],
        uow_factory: Callable[[], UnitOfWork],
        guard_tables: Callable[[Any], GuardTables],
        deserializer: AvroEventDeserializer,
        hooks: ApplyHooks | None = None,
    ) -> None:
        """``guard_tables(uow)``: the guard's tables in that unit of work's transaction
        (:class:`~outboxkit.consuming.guard.SqlGuardTables` over ``uow.connection`` in a service)."""
        self.group_id = group_id
        self.routes = routes
        self.retry_topic = retry_topic_for(group_id)
        self._uow_factory = uow_factory
        self._guard_tables = guard_tables
        self._deserializer = deserializer
        self._hooks = hooks or NoHooks()

    def apply(self, records: Sequence[Record]) -> list[Result]:
        """Apply ``records`` (in fetch order) in one transaction; one result each, in order.
        Raises whatever the decoding, the database or a handler raise, after which nothing of
        them is kept; :mod:`outboxkit.base.failures` tells the caller what that means."""
        results: list[Result | None] = [None] * len(records)
        deliveries: list[tuple[int, Delivery]] = []
        for index, record in enumerate(records):
            reinjected = record.topic == self.retry_topic
            declared = record.headers.get(HEADER_EVENT_TYPE)
            if declared and not reinjected and not self.routes.handles(declared):
                # Not this group's business: no decoding, no database, and a record that would not
                # decode cannot park a key for a group that never reads it.
                results[index] = Result(Outcome.IGNORED, None)
                continue
            source = SourceRecord.of(record)
            origin = (source.topic, source.partition, source.offset) if reinjected else None
            event = decode(record, self._deserializer, origin)
            deliveries.append(
                (index, Delivery(event, source, reinjected, self.routes.handles(event.event_type)))
            )
        if deliveries:
            for (index, delivery), verdict in zip(deliveries, self._apply(deliveries), strict=True):
                results[index] = Result(verdict.outcome, delivery.event, verdict.ahead)
        return [result for result in results if result is not None]

    def _apply(self, deliveries: list[tuple[int, Delivery]]) -> list[Verdict]:
        with (
            tracing.apply_span(self.group_id, [delivery.event for _, delivery in deliveries]),
            self._uow_factory() as uow,
        ):
            verdicts = guard(self._guard_tables(uow), [delivery for _, delivery in deliveries])
            applied = [
                delivery.event
                for (_, delivery), verdict in zip(deliveries, verdicts, strict=True)
                if verdict.outcome is Outcome.APPLIED
            ]
            # The handlers' repositories read every row the batch needs at once.
            typed = [self.routes.typed(event) for event in applied]
            uow.batch = typed
            for event, typed_event in zip(applied, typed, strict=True):
                with tracing.continued_from(
                    event.headers, event.key, event.event_id, self.group_id, event.event_type
                ):
                    self.routes.handle(uow, event, typed_event)
                self._hooks.handler_ran(f"{event.event_type} {event.event_id}")
        self._hooks.committed(
            f"{deliveries[0][1].event.event_type} {deliveries[0][1].event.event_id}"
            if len(deliveries) == 1
            else f"a batch of {len(deliveries)} record(s)"
        )
        return verdicts

"""The record-applying step, apart from the Kafka loop: one record, one database transaction.

In that transaction: the dead-letter check (a key with a pending dead letter parks its later
records), the version guard (problem 3), the inbox row (problem 2) and the handler (the domain
change plus any outbox rows). The Kafka loop (:mod:`eventcore.consuming.consumer`) decides what a failure
means and when the offset moves; this module knows nothing about partitions or offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from confluent_kafka import Message

from eventcore.base.messages import ConsumedEvent
from eventcore.base.topics import HEADER_EVENT_TYPE, aggregate_type_of, retry_topic_for
from eventcore.base.tracing import continued_from
from eventcore.consuming.drills import FailureDrills
from eventcore.consuming.inbox import (
    APPLIED,
    STALE,
    AlreadyProcessed,
    already_processed,
    receipt_row,
    record_receipt,
    record_receipts,
)
from eventcore.consuming.records import decode, header_map
from eventcore.consuming.version_guard import advance, is_newer, lock_versions, store_versions
from eventcore.dead_letters.queue import DeadLetterRow, DeadLetterStore, SourceRecord
from eventcore.serialization.avro import AvroEventDeserializer
from eventcore.storage.db import SqlUnitOfWork
from eventcore.storage.messaging_tables import MessagingTables

Handler = Callable[[SqlUnitOfWork, ConsumedEvent], None]


class ApplyOneByOne(Exception):
    """A batch holds something only the one-record path handles (a parked key)."""


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this group applied the event before (inbox)
    STALE = "stale"  # the aggregate is past this version already (version guard)
    IGNORED = "ignored"  # no handler for this event type
    PARK = "park"  # a pending dead letter of the same key is ahead of it
    NOT_PENDING = "not pending"  # a re-injected copy of a dead letter that is no longer owed
    STILL_PARKED = "still parked"  # a re-injected copy whose key has an earlier dead letter


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    event: ConsumedEvent | None  # None when ignored before decoding
    ahead: DeadLetterRow | None = None  # for PARK / STILL_PARKED: what it waits behind


class RecordApplier:
    """Applies the records of one consumer group with ``handlers`` (event type -> handler)."""

    def __init__(
        self,
        group_id: str,
        handlers: Mapping[str, Handler],
        uow_factory: Callable[[], SqlUnitOfWork],
        tables: MessagingTables,
        deserializer: AvroEventDeserializer,
        drills: FailureDrills | None = None,
    ) -> None:
        self.group_id = group_id
        self.handlers = dict(handlers)
        self.retry_topic = retry_topic_for(group_id)
        self._uow_factory = uow_factory
        self._tables = tables
        self.dead_letters = DeadLetterStore(tables.dead_letters, group_id)
        self._deserializer = deserializer
        self._drills = drills or FailureDrills()

    def apply(self, message: Message) -> Result:
        """Apply ``message``, or say why not. Raises whatever the decoding, the database or the
        handler raise; :mod:`eventcore.consuming.failures` tells the caller what that means."""
        source = SourceRecord.of(message)
        reinjected = message.topic() == self.retry_topic
        declared_type = header_map(message).get(HEADER_EVENT_TYPE)
        if declared_type and declared_type not in self.handlers and not reinjected:
            # Not this group's business: no decoding, no database, and a record that would not
            # decode cannot park a key for a group that never reads it.
            return Result(Outcome.IGNORED, None)
        event = decode(message, self._deserializer, (source.topic, source.partition, source.offset))
        handler = self.handlers.get(event.event_type)
        try:
            return self._apply_in_transaction(event, source, handler, reinjected)
        except AlreadyProcessed:
            return Result(Outcome.DUPLICATE, event)

    def apply_batch(self, messages: list[Message]) -> list[Result]:
        """Apply ``messages`` (live records, in fetch order) in ONE transaction: one statement
        each for the parking check, the duplicates and the versions, one multi-row insert for the
        inbox, then the handlers one after the other (their repositories reading and writing
        each table once for the whole batch, :mod:`eventcore.storage.batch_rows`), and one commit.
        Raises whatever any of them raises, after which nothing of the batch is kept: the caller
        then applies the records one by one, so a bad record goes its own failure path alone."""
        results: list[Result | None] = [None] * len(messages)
        decoded: list[tuple[int, ConsumedEvent]] = []
        for index, message in enumerate(messages):
            declared_type = header_map(message).get(HEADER_EVENT_TYPE)
            if declared_type and declared_type not in self.handlers:
                results[index] = Result(Outcome.IGNORED, None)
            else:
                decoded.append((index, decode(message, self._deserializer)))
        applied = self.apply_events([event for _, event in decoded])
        for (index, _), result in zip(decoded, applied, strict=True):
            results[index] = result
        return [result for result in results if result is not None]

    def apply_events(self, events: list[ConsumedEvent]) -> list[Result]:
        """Apply decoded live events in one transaction (see :meth:`apply_batch`)."""
        results: list[Result | None] = [None] * len(events)
        work: list[tuple[int, ConsumedEvent, Handler]] = []
        for index, event in enumerate(events):
            handler = self.handlers.get(event.event_type)
            if handler is None:
                results[index] = Result(Outcome.IGNORED, event)
            else:
                work.append((index, event, handler))
        if work:
            with self._uow_factory() as uow:
                self._apply_all(uow, work, results)
            self._drills.committed(f"a batch of {len(work)} record(s)")
        return [result for result in results if result is not None]

    def _apply_all(
        self, uow: SqlUnitOfWork, work: list[tuple[int, ConsumedEvent, Handler]], results: list[Result | None]
    ) -> None:
        connection = uow.connection
        tables = self._tables
        keys = {event.key for _, event, _ in work if event.key}
        if self.dead_letters.parked_keys(connection, keys):
            raise ApplyOneByOne("a key of the batch has a pending dead letter")
        seen = already_processed(connection, tables.inbox, self.group_id, [e.event_id for _, e, _ in work])
        aggregates = {(aggregate_type_of(e.topic), e.key or "") for _, e, _ in work}
        existing = lock_versions(connection, tables.aggregate_versions, self.group_id, aggregates)
        current = dict(existing)
        changed: dict[tuple[str, str], int] = {}
        receipts = []
        to_handle = []
        for index, event, handler in work:
            if event.event_id in seen:
                results[index] = Result(Outcome.DUPLICATE, event)
                continue
            seen.add(event.event_id)  # the same event twice in one batch: the second is a duplicate
            aggregate = (aggregate_type_of(event.topic), event.key or "")
            newer = is_newer(current.get(aggregate), event.aggregate_version)
            if newer:
                current[aggregate] = changed[aggregate] = event.aggregate_version
                to_handle.append((event, handler))
            receipts.append(receipt_row(self.group_id, event, aggregate[0], APPLIED if newer else STALE))
            results[index] = Result(Outcome.APPLIED if newer else Outcome.STALE, event)
        store_versions(connection, tables.aggregate_versions, self.group_id, changed, set(existing))
        record_receipts(connection, tables.inbox, receipts)
        uow.batch = [event for event, _ in to_handle]  # the handlers' repositories read their rows at once
        for event, handler in to_handle:
            self._handle(uow, event, handler)

    def _handle(self, uow: SqlUnitOfWork, event: ConsumedEvent, handler: Handler) -> None:
        with continued_from(event.headers, event.key, event.event_id):
            handler(uow, event)
        self._drills.handler_ran(f"{event.event_type} {event.event_id}")

    def _apply_in_transaction(
        self, event: ConsumedEvent, source: SourceRecord, handler: Handler | None, reinjected: bool
    ) -> Result:
        with self._uow_factory() as uow:
            connection = uow.connection
            head = self.dead_letters.head(connection, event.key)
            owed = self.dead_letters.find(connection, source) if reinjected else None
            if reinjected:
                if owed is None:
                    return Result(Outcome.NOT_PENDING, event)
                if head is not None and head.id != owed.id:
                    return Result(Outcome.STILL_PARKED, event, head)
            elif head is not None:
                return Result(Outcome.PARK, event, head)
            if handler is None:
                if owed is not None:
                    self.dead_letters.remove(connection, owed.id)
                return Result(Outcome.IGNORED, event)
            aggregate_type = aggregate_type_of(event.topic)
            stale_behind = advance(
                connection,
                self._tables.aggregate_versions,
                self.group_id,
                aggregate_type,
                event.key or "",
                event.aggregate_version,
            )
            try:
                record_receipt(
                    connection,
                    self._tables.inbox,
                    self.group_id,
                    event,
                    aggregate_type,
                    APPLIED if stale_behind is None else STALE,
                )
            except AlreadyProcessed:
                if owed is None:
                    raise  # rolls back; nothing of this delivery stays
                # A re-injected record that had been applied after all: no longer owed. (A failed
                # insert undoes only itself, so the transaction goes on.)
                self.dead_letters.remove(connection, owed.id)
                return Result(Outcome.DUPLICATE, event)
            if stale_behind is None:
                uow.batch = [event]
                self._handle(uow, event, handler)
            if owed is not None:
                self.dead_letters.remove(connection, owed.id)
        self._drills.committed(f"{event.event_type} {event.event_id}")
        return Result(Outcome.APPLIED if stale_behind is None else Outcome.STALE, event)

"""Lost or late events: the dead-letter queue, and per-key order kept through it.

A record that cannot be applied is neither dropped nor allowed to block its partition. It is
copied, untouched (key, value, headers), to the consumer group's dead-letter topic
``<group>.dlq`` with headers saying why, and the group's database records it as *pending* in
the ``dead_letters`` table. The table is the truth about what is still owed; the topic keeps
the bytes.

Per-key order survives: while a key has a pending dead letter, that group's later records for
the same key are *parked* behind it (copied to the DLQ with ``dlq.parked.behind`` and recorded
as pending too) instead of being applied ahead of it. Once the cause is fixed, re-injection
(:mod:`outboxkit.dead_letters.tools`) sends a key's pending records, in their original order, to
``<group>.retry``: a topic only this group reads, so no other group sees them twice. A
re-injected record is applied only when it is the first pending record of its key; applying it
removes it from the table in the same transaction, which releases the next one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    bindparam,
    delete,
    func,
    select,
    tuple_,
    update,
)

from outboxkit.base.clock import utc_now
from outboxkit.base.failures import DependencyUnavailableError, Failure, FailureKind
from outboxkit.base.topics import (
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    RETRY_SUFFIX,
    dead_letter_topic_for,
    retry_topic_for,
)
from outboxkit.kafka.records import Header, Record
from outboxkit.storage.db import SqlUnitOfWork

log = logging.getLogger(__name__)

H_ERROR_CLASS = "dlq.error.class"
H_ERROR_MESSAGE = "dlq.error.message"
H_TOPIC = "dlq.original.topic"
H_PARTITION = "dlq.original.partition"
H_OFFSET = "dlq.original.offset"
H_ATTEMPTS = "dlq.attempts"
H_FIRST_FAILURE = "dlq.first.failure.at"
H_GROUP = "dlq.consumer.group"
H_PARKED_BEHIND = "dlq.parked.behind"
H_REINJECTED_AT = "dlq.reinjected.at"
DLQ_HEADERS = frozenset(
    {
        H_ERROR_CLASS,
        H_ERROR_MESSAGE,
        H_TOPIC,
        H_PARTITION,
        H_OFFSET,
        H_ATTEMPTS,
        H_FIRST_FAILURE,
        H_GROUP,
        H_PARKED_BEHIND,
        H_REINJECTED_AT,
    }
)
PARKED = "Parked"


@dataclass(frozen=True)
class SourceRecord:
    """Where a record was first consumed: its identity across its DLQ and retry copies."""

    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, record: Record) -> SourceRecord:
        headers = record.headers
        if record.topic.endswith(RETRY_SUFFIX) and H_TOPIC in headers:
            try:
                return cls(headers[H_TOPIC], int(headers[H_PARTITION]), int(headers[H_OFFSET]))
            except (KeyError, ValueError):
                pass  # a malformed copy is identified by where it is
        return cls(record.topic, record.partition, record.offset)

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class DeadLetterRow:
    id: int
    consumer_group: str
    record_key: str | None
    source: SourceRecord
    event_id: str | None
    event_type: str | None
    parked_behind: int | None
    error_class: str
    error_message: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    dlq_partition: int
    dlq_offset: int
    reinjected: int
    last_reinjected_at: datetime | None

    @property
    def parked(self) -> bool:
        return self.error_class == PARKED

    def describe(self) -> str:
        return f"{self.event_type or '?'} {self.event_id or '-'} ({self.source})"

    @classmethod
    def from_row(cls, row: object) -> DeadLetterRow:
        m = row._mapping  # type: ignore[attr-defined]
        return cls(
            id=m["id"],
            consumer_group=m["consumer_group"],
            record_key=m["record_key"],
            source=SourceRecord(m["source_topic"], m["source_partition"], m["source_offset"]),
            event_id=m["event_id"],
            event_type=m["event_type"],
            parked_behind=m["parked_behind"],
            error_class=m["error_class"],
            error_message=m["error_message"],
            attempts=m["attempts"],
            first_failed_at=m["first_failed_at"],
            last_failed_at=m["last_failed_at"],
            dlq_partition=m["dlq_partition"],
            dlq_offset=m["dlq_offset"],
            reinjected=m["reinjected"],
            last_reinjected_at=m["last_reinjected_at"],
        )


@functools.cache
def _heads_query(t: Table) -> Select[Any]:
    """Built once per table: every batch a consumer applies asks it (outboxkit.storage.db.insert_of)."""
    firsts = (
        select(func.min(t.c.id))
        .where(
            t.c.consumer_group == bindparam("group"), t.c.record_key.in_(bindparam("keys", expanding=True))
        )
        .group_by(t.c.record_key)
        .scalar_subquery()
    )
    return select(t).where(t.c.id.in_(firsts))


class DeadLetterStore:
    """The pending dead letters of one consumer group, in its own database."""

    def __init__(self, table: Table, consumer_group: str) -> None:
        self.table = table
        self.group = consumer_group

    def _mine(self) -> ColumnElement[bool]:
        return self.table.c.consumer_group == self.group

    def head(self, connection: Connection, key: str | None) -> DeadLetterRow | None:
        """The first pending record of ``key``: what its later records wait behind."""
        if key is None:
            return None
        row = connection.execute(
            select(self.table)
            .where(self._mine(), self.table.c.record_key == key)
            .order_by(self.table.c.id)
            .limit(1)
        ).first()
        return DeadLetterRow.from_row(row) if row else None

    def heads(self, connection: Connection, keys: set[str]) -> dict[str, DeadLetterRow]:
        """The first pending record of each of ``keys`` that has one (one statement for a batch)."""
        if not keys:
            return {}
        rows = connection.execute(_heads_query(self.table), {"group": self.group, "keys": sorted(keys)})
        return {row.record_key: DeadLetterRow.from_row(row) for row in rows}

    def find(self, connection: Connection, source: SourceRecord) -> DeadLetterRow | None:
        t = self.table
        row = connection.execute(
            select(t).where(
                self._mine(),
                t.c.source_topic == source.topic,
                t.c.source_partition == source.partition,
                t.c.source_offset == source.offset,
            )
        ).first()
        return DeadLetterRow.from_row(row) if row else None

    def find_all(
        self, connection: Connection, sources: list[SourceRecord]
    ) -> dict[SourceRecord, DeadLetterRow]:
        """The pending rows of these records (one statement)."""
        if not sources:
            return {}
        t = self.table
        query = select(t).where(
            self._mine(),
            tuple_(t.c.source_topic, t.c.source_partition, t.c.source_offset).in_(
                sorted((s.topic, s.partition, s.offset) for s in set(sources))
            ),
        )
        rows = [DeadLetterRow.from_row(row) for row in connection.execute(query)]
        return {row.source: row for row in rows}

    def pending(
        self, connection: Connection, keys: list[str] | None = None, ids: list[int] | None = None
    ) -> list[DeadLetterRow]:
        query = select(self.table).where(self._mine())
        if keys is not None:
            query = query.where(self.table.c.record_key.in_(keys))
        if ids is not None:
            query = query.where(self.table.c.id.in_(ids))
        return [DeadLetterRow.from_row(r) for r in connection.execute(query.order_by(self.table.c.id))]

    def by_event_or_id(self, connection: Connection, reference: str) -> DeadLetterRow | None:
        """A row by its event id, or by its row number (as ``list`` shows it)."""
        t = self.table
        condition = t.c.event_id == reference
        if reference.isdigit():
            condition = condition | (t.c.id == int(reference))
        row = connection.execute(select(t).where(self._mine(), condition).order_by(t.c.id).limit(1)).first()
        return DeadLetterRow.from_row(row) if row else None

    def add(self, connection: Connection, **values: object) -> None:
        connection.execute(self.table.insert().values(consumer_group=self.group, **values))

    def failed_again(
        self, connection: Connection, row: DeadLetterRow, failure: Failure, error_class: str, attempts: int
    ) -> None:
        connection.execute(
            update(self.table)
            .where(self.table.c.id == row.id)
            .values(
                error_class=error_class,
                error_message=failure.summary[:4000],
                attempts=row.attempts + attempts,
                last_failed_at=utc_now(),
            )
        )

    def remove_all(self, connection: Connection, row_ids: list[int]) -> None:
        if row_ids:
            connection.execute(delete(self.table).where(self.table.c.id.in_(row_ids)))

    def mark_reinjected(self, connection: Connection, row_id: int) -> None:
        connection.execute(
            update(self.table)
            .where(self.table.c.id == row_id)
            .values(reinjected=self.table.c.reinjected + 1, last_reinjected_at=utc_now())
        )

    def purge(self, connection: Connection, ids: list[int]) -> int:
        if not ids:
            return 0
        return connection.execute(delete(self.table).where(self._mine(), self.table.c.id.in_(ids))).rowcount


@dataclass(frozen=True)
class DeadLetterReason:
    """Why a record goes to the DLQ: its own failure, or a pending record of its key ahead of it."""

    error_class: str
    failure: Failure
    attempts: int
    first_failed_at: datetime
    behind: DeadLetterRow | None = None

    @classmethod
    def parked_behind(cls, head: DeadLetterRow) -> DeadLetterReason:
        summary = (
            f"parked behind {head.describe()}: a record of this key waits in the "
            "dead-letter queue, and later ones must not overtake it"
        )
        return cls(PARKED, Failure(FailureKind.RECORD, summary), 0, datetime.now(UTC), head)


class DeadLetterQueue:
    """Sends records of one consumer group to its DLQ topic and records them as pending."""

    def __init__(
        self,
        producer: Producer,
        consumer_group: str,
        store: DeadLetterStore,
        uow_factory: Callable[[], SqlUnitOfWork],
    ) -> None:
        self._producer = producer
        self.group = consumer_group
        self.topic = dead_letter_topic_for(consumer_group)
        self.retry_topic = retry_topic_for(consumer_group)
        self.store = store
        self._uow_factory = uow_factory

    def send(self, record: Record, source: SourceRecord, reason: DeadLetterReason) -> str:
        """Park or dead-letter ``message``; returns what happened, for the log.

        The DLQ copy is written (and acknowledged) before the row commits: a crash in between
        leaves an extra copy in the topic, never a pending row without its bytes. A record that
        is pending already (a re-delivery, or a re-injected record that failed again) is not
        copied again; its row counts the new failure.
        """
        headers = record.headers
        key = record.key
        with self._uow_factory() as uow:
            existing = self.store.find(uow.connection, source)
            if existing is not None:
                if not reason.behind:
                    self.store.failed_again(
                        uow.connection, existing, reason.failure, reason.error_class, reason.attempts
                    )
                return f"still pending as dead letter #{existing.id}"
            head = reason.behind or self.store.head(uow.connection, key)
            partition, offset = self._copy_to_topic(record, source, reason, head)
            now = utc_now()
            self.store.add(
                uow.connection,
                record_key=key,
                source_topic=source.topic,
                source_partition=source.partition,
                source_offset=source.offset,
                event_id=headers.get(HEADER_EVENT_ID),
                event_type=headers.get(HEADER_EVENT_TYPE),
                parked_behind=head.id if head else None,
                error_class=reason.error_class,
                error_message=reason.failure.summary[:4000],
                attempts=reason.attempts,
                first_failed_at=reason.first_failed_at.astimezone(UTC).replace(tzinfo=None),
                last_failed_at=now,
                dlq_partition=partition,
                dlq_offset=offset,
                reinjected=0,
            )
        if reason.behind:
            return f"parked behind {reason.behind.describe()} in {self.topic}[{partition}]@{offset}"
        behind = f", behind {head.describe()} of the same key" if head else ""
        return f"dead-lettered to {self.topic}[{partition}]@{offset}{behind}"

    def _copy_to_topic(
        self, record: Record, source: SourceRecord, reason: DeadLetterReason, head: DeadLetterRow | None
    ) -> tuple[int, int]:
        original = [(k, v) for k, v in record.header_items if k not in DLQ_HEADERS]
        headers: list[Header] = [
            *original,
            (H_ERROR_CLASS, reason.error_class),
            (H_ERROR_MESSAGE, reason.failure.summary[:4000]),
            (H_TOPIC, source.topic),
            (H_PARTITION, str(source.partition)),
            (H_OFFSET, str(source.offset)),
            (H_ATTEMPTS, str(reason.attempts)),
            (H_FIRST_FAILURE, reason.first_failed_at.astimezone(UTC).isoformat()),
            (H_GROUP, self.group),
        ]
        if head is not None:
            headers.append((H_PARKED_BEHIND, head.event_id or str(head.source)))
        return produce_and_wait(self._producer, self.topic, record.raw_key, record.value, headers)


def produce_and_wait(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[Header],
    timeout_s: float = 30.0,
) -> tuple[int, int]:
    """Produce one record and wait for the broker's acknowledgement; returns (partition, offset).

    A broker that does not acknowledge is an outage: the caller keeps the record and tries again.
    """
    return produce_all_and_wait(producer, topic, [(key, value, headers)], timeout_s)[0]


OutgoingRecord = tuple[bytes | None, bytes | None, list[Header]]  # key, value, headers


def produce_all_and_wait(
    producer: Producer, topic: str, records: list[OutgoingRecord], timeout_s: float = 30.0
) -> list[tuple[int, int]]:
    """Produce the records and wait until the broker acknowledged every one; returns each one's
    (partition, offset), in order. One unacknowledged record is an outage for all of them."""
    acknowledged: dict[int, tuple[int, int]] = {}
    failures: list[KafkaError] = []
    for index, (key, value, headers) in enumerate(records):

        def on_delivery(err: KafkaError | None, msg: Message, index: int = index) -> None:
            partition, offset = msg.partition(), msg.offset()
            if err is not None or partition is None or offset is None:
                failures.append(err or KafkaError(KafkaError._UNKNOWN_PARTITION))
            else:
                acknowledged[index] = (partition, offset)

        producer.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)
    remaining = producer.flush(timeout_s)
    if failures or remaining or len(acknowledged) < len(records):
        detail = str(failures[0]) if failures else f"no acknowledgement within {timeout_s:.0f}s"
        raise DependencyUnavailableError("broker", f"could not write to {topic}: {detail}")
    return [acknowledged[index] for index in range(len(records))]

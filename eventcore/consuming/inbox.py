"""Duplicates (problem 2): the inbox.

Kafka delivers at least once: a record comes again after a consumer crash, a rebalance, a
rewound offset or a Connect restart that re-sends since its last offset flush. Each consumer
group records the event ids it has applied, in the same transaction as the handler's changes.
The primary key (consumer group, event id) makes a second application impossible: a repeat
fails the insert, the transaction rolls back, and the repeat is skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Index, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.mysql import BIGINT, CHAR, DATETIME
from sqlalchemy.exc import IntegrityError

from eventcore.base.clock import utc_now
from eventcore.base.messages import ConsumedEvent

DUPLICATE_KEY_ERROR = 1062


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer_group", String(128), primary_key=True),
        Column("event_id", CHAR(36), primary_key=True),
        Column("event_type", String(128), nullable=False),
        Column("topic", String(255), nullable=False),
        Column("kafka_partition", Integer, nullable=False),
        Column("kafka_offset", BIGINT, nullable=False),
        Column("processed_at", DATETIME(fsp=6), nullable=False),
        # What was applied to which aggregate, so that the order of application can be audited
        # (the fault suite checks that versions never went back). Nullable: added in place to
        # inboxes created before these columns existed.
        Column("aggregate_type", String(64)),
        Column("aggregate_id", String(64)),
        Column("aggregate_version", BIGINT),
        Column("outcome", String(16)),
        # The pruning's path (eventcore.storage.retention): a group's oldest receipts first.
        Index("ix_inbox_group_processed", "consumer_group", "processed_at"),
    )


def inbox_horizon_table(metadata: MetaData) -> Table:
    """Per group and partition, the offset below which receipts may have been pruned
    (eventcore.storage.retention): a rewind below it meets the version guard alone."""
    return Table(
        "inbox_horizon",
        metadata,
        Column("consumer_group", String(128), primary_key=True),
        Column("topic", String(255), primary_key=True),
        Column("kafka_partition", Integer, primary_key=True),
        # Receipts of records below this offset may have been pruned.
        Column("below_offset", BIGINT, nullable=False),
        Column("pruned_at", DATETIME(fsp=6), nullable=False),
    )


@dataclass(frozen=True)
class Horizon:
    topic: str
    partition: int
    below_offset: int
    pruned_at: datetime


def horizons(connection: Connection, table: Table, group: str) -> dict[tuple[str, int], Horizon]:
    rows = connection.execute(select(table).where(table.c.consumer_group == group)).all()
    return {
        (r.topic, r.kafka_partition): Horizon(r.topic, r.kafka_partition, r.below_offset, r.pruned_at)
        for r in rows
    }


class AlreadyProcessed(Exception):
    """This consumer group has applied the event before."""


def is_duplicate_key(exc: IntegrityError) -> bool:
    return bool(exc.orig is not None and exc.orig.args and exc.orig.args[0] == DUPLICATE_KEY_ERROR)


APPLIED = "applied"
STALE = "stale"


def receipt_row(
    consumer_group: str, event: ConsumedEvent, aggregate_type: str, outcome: str
) -> dict[str, Any]:
    return {
        "consumer_group": consumer_group,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "topic": event.topic,
        "kafka_partition": event.partition,
        "kafka_offset": event.offset,
        "processed_at": utc_now(),
        "aggregate_type": aggregate_type,
        "aggregate_id": event.key,
        "aggregate_version": event.aggregate_version,
        "outcome": outcome,
    }


def record_receipt(
    connection: Connection,
    table: Table,
    consumer_group: str,
    event: ConsumedEvent,
    aggregate_type: str,
    outcome: str,
) -> None:
    """Insert the inbox row, or raise AlreadyProcessed if this group applied the event."""
    try:
        connection.execute(table.insert(), receipt_row(consumer_group, event, aggregate_type, outcome))
    except IntegrityError as exc:
        if is_duplicate_key(exc):
            raise AlreadyProcessed(event.event_id) from None
        raise


def already_processed(
    connection: Connection, table: Table, consumer_group: str, event_ids: list[str]
) -> set[str]:
    """Which of ``event_ids`` this group has applied before (one statement for a whole batch)."""
    if not event_ids:
        return set()
    query = select(table.c.event_id).where(
        table.c.consumer_group == consumer_group, table.c.event_id.in_(event_ids)
    )
    return set(connection.execute(query).scalars())


def record_receipts(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """The inbox rows of a batch in one multi-row insert. A duplicate among them (another
    instance applied one a moment ago) fails the whole insert: the caller then goes one by one."""
    if rows:
        connection.execute(table.insert(), rows)

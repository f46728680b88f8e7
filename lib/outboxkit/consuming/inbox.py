"""Duplicates: the inbox.

Kafka delivers at least once: a record comes again after a consumer crash, a rebalance, a
rewound offset or a Connect restart that re-sends since its last offset flush. Each consumer
group records the event ids it has applied, in the same transaction as the handler's changes
(the guard, :mod:`outboxkit.consuming.guard`, reads and writes them here). The primary key
(consumer group, event id) makes a second application impossible: a repeat is skipped and
counted, and one that races past the check fails the insert, which rolls the transaction back.

A receipt is kept while it can still be needed (:func:`prune_inbox`, the inbox horizon).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, Table, and_, bindparam, delete, func, or_, select
from sqlalchemy.dialects.mysql import insert as mysql_insert

from outboxkit.base.clock import utc_now
from outboxkit.base.messages import ConsumedEvent
from outboxkit.storage.db import insert_of, paced_batches


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


def already_processed(
    connection: Connection, table: Table, consumer_group: str, event_ids: list[str]
) -> set[str]:
    """Which of ``event_ids`` this group has applied before (one statement for a whole batch)."""
    if not event_ids:
        return set()
    query = _applied_query(table)
    return set(connection.execute(query, {"group": consumer_group, "event_ids": event_ids}).scalars())


# The hot path's statements are built once per table: building and keying a statement on every
# call cost more of a service's time than executing it (bench_saga.py, profiled).
@functools.cache
def _applied_query(table: Table) -> Select[tuple[str]]:
    return select(table.c.event_id).where(
        table.c.consumer_group == bindparam("group"),
        table.c.event_id.in_(bindparam("event_ids", expanding=True)),
    )


def record_receipts(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """The inbox rows of a batch in one multi-row insert. A duplicate among them (another
    instance applied one a moment ago) fails the whole insert (IntegrityError, duplicate key)."""
    if rows:
        connection.execute(insert_of(table), rows)


def prune_inbox(
    engine: Engine,
    inbox: Table,
    horizon: Table,
    group: str,
    committed: dict[tuple[str, int], int],
    older_than: datetime,
    batch_size: int,
    max_batches: int | None = None,
    rest_ratio: float = 0.0,
) -> int:
    """Delete ``group``'s receipts older than ``older_than`` whose record its committed offsets
    (``committed``: (topic, partition) -> offset) have passed; batch by batch, each in its own
    transaction, the horizon recorded with each, at most ``max_batches``, paced by ``rest_ratio``
    (:func:`outboxkit.storage.db.paced_batches`). Returns how many went."""
    passed = [
        and_(inbox.c.topic == topic, inbox.c.kafka_partition == partition, inbox.c.kafka_offset < offset)
        for (topic, partition), offset in sorted(committed.items())
        if offset > 0
    ]
    if not passed:
        return 0
    eligible = and_(inbox.c.consumer_group == group, inbox.c.processed_at < older_than, or_(*passed))
    removed = 0
    for _ in paced_batches(max_batches, rest_ratio):
        with engine.begin() as connection:
            batch = connection.execute(
                select(inbox.c.event_id, inbox.c.topic, inbox.c.kafka_partition, inbox.c.kafka_offset)
                .where(eligible)
                .order_by(inbox.c.processed_at)
                .limit(batch_size)
            ).all()
            if not batch:
                return removed
            connection.execute(
                delete(inbox).where(
                    inbox.c.consumer_group == group, inbox.c.event_id.in_([row.event_id for row in batch])
                )
            )
            _advance_horizon(connection, horizon, group, batch)
        removed += len(batch)
        if len(batch) < batch_size:
            return removed
    return removed


def _advance_horizon(connection: Connection, table: Table, group: str, batch: Sequence[Row[Any]]) -> None:
    below: dict[tuple[str, int], int] = {}
    for row in batch:
        key = (row.topic, row.kafka_partition)
        below[key] = max(below.get(key, 0), row.kafka_offset + 1)
    now = utc_now()
    for (topic, partition), offset in below.items():
        statement = mysql_insert(table).values(
            consumer_group=group, topic=topic, kafka_partition=partition, below_offset=offset, pruned_at=now
        )
        connection.execute(
            statement.on_duplicate_key_update(
                below_offset=func.greatest(table.c.below_offset, statement.inserted.below_offset),
                pruned_at=now,
            )
        )

"""Out-of-order events (problem 3): the per-aggregate version guard.

Every event carries its aggregate's version. A consumer remembers, per aggregate, the last
version it applied (same transaction as the handler's changes) and skips an event whose version
is not newer: a stale or replayed event can never move state backwards.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, String, Table, select, tuple_
from sqlalchemy.dialects.mysql import BIGINT, DATETIME, insert as mysql_insert
from sqlalchemy.exc import IntegrityError

from eventcore.base.clock import utc_now
from eventcore.base.failures import RetryableConflictError
from eventcore.consuming.inbox import is_duplicate_key


def aggregate_versions_table(metadata: MetaData) -> Table:
    return Table(
        "aggregate_versions",
        metadata,
        Column("consumer_group", String(128), primary_key=True),
        Column("aggregate_type", String(64), primary_key=True),
        Column("aggregate_id", String(64), primary_key=True),
        Column("version", BIGINT, nullable=False),
        Column("updated_at", DATETIME(fsp=6), nullable=False),
    )


def is_newer(last_applied: int | None, incoming: int) -> bool:
    """The rule itself: only a strictly newer version may be applied."""
    return last_applied is None or incoming > last_applied


def advance(
    connection: Connection,
    table: Table,
    consumer_group: str,
    aggregate_type: str,
    aggregate_id: str,
    incoming: int,
) -> int | None:
    """Record ``incoming`` as the aggregate's version; returns None when it was newer, else the
    newer version already applied (the event is stale and must not be applied).

    The row is locked until the transaction ends, so two consumers racing on one aggregate
    (possible for a moment during a rebalance) apply its events one after the other.
    """
    key = (
        (table.c.consumer_group == consumer_group)
        & (table.c.aggregate_type == aggregate_type)
        & (table.c.aggregate_id == aggregate_id)
    )
    last = connection.execute(select(table.c.version).where(key).with_for_update()).scalar()
    if not is_newer(last, incoming):
        return last
    now = utc_now()
    if last is None:
        try:
            connection.execute(
                table.insert().values(
                    consumer_group=consumer_group,
                    aggregate_type=aggregate_type,
                    aggregate_id=aggregate_id,
                    version=incoming,
                    updated_at=now,
                )
            )
        except IntegrityError as exc:
            if is_duplicate_key(exc):
                # Another consumer (a rebalance overlap) recorded this aggregate's first version
                # a moment ago: retrying re-reads it under the lock.
                raise RetryableConflictError(
                    f"{aggregate_type}/{aggregate_id}: concurrent first version"
                ) from exc
            raise
    else:
        connection.execute(table.update().where(key).values(version=incoming, updated_at=now))
    return None


AggregateKey = tuple[str, str]  # (aggregate type, aggregate id)


def lock_versions(
    connection: Connection, table: Table, consumer_group: str, keys: set[AggregateKey]
) -> dict[AggregateKey, int]:
    """The last applied version of each aggregate of a batch, rows locked (one statement)."""
    if not keys:
        return {}
    query = (
        select(table.c.aggregate_type, table.c.aggregate_id, table.c.version)
        .where(
            table.c.consumer_group == consumer_group,
            tuple_(table.c.aggregate_type, table.c.aggregate_id).in_(sorted(keys)),
        )
        .with_for_update()
    )
    return {(r.aggregate_type, r.aggregate_id): r.version for r in connection.execute(query)}


def store_versions(
    connection: Connection,
    table: Table,
    consumer_group: str,
    versions: dict[AggregateKey, int],
    existing: set[AggregateKey],
) -> None:
    """Write a batch's new versions: one insert for aggregates seen for the first time (a
    concurrent first version fails it, as in :func:`advance`), one upsert for the rest (their
    rows are locked by :func:`lock_versions`, so the update cannot race)."""
    now = utc_now()

    def rows(keys: list[AggregateKey]) -> list[dict[str, object]]:
        return [
            {
                "consumer_group": consumer_group,
                "aggregate_type": t,
                "aggregate_id": i,
                "version": versions[(t, i)],
                "updated_at": now,
            }
            for t, i in keys
        ]

    first = [key for key in versions if key not in existing]
    known = [key for key in versions if key in existing]
    if first:
        try:
            connection.execute(table.insert(), rows(first))
        except IntegrityError as exc:
            if is_duplicate_key(exc):
                raise RetryableConflictError(f"{len(first)} aggregate(s): concurrent first version") from exc
            raise
    if known:
        upsert = mysql_insert(table).values(rows(known))
        connection.execute(
            upsert.on_duplicate_key_update(
                version=upsert.inserted.version, updated_at=upsert.inserted.updated_at
            )
        )

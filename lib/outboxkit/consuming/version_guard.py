"""Out-of-order events: the per-aggregate version guard.

Every event carries its aggregate's version. A consumer remembers, per aggregate, the last
version it applied (same transaction as the handler's changes) and skips an event whose version
is not newer: a stale or replayed event can never move state backwards.
"""

from __future__ import annotations

import functools

from sqlalchemy import Connection, Insert, Select, Table, bindparam, select, tuple_
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.exc import IntegrityError

from outboxkit.base.clock import utc_now
from outboxkit.base.failures import RetryableConflictError
from outboxkit.storage.db import insert_of, is_duplicate_key


def is_newer(last_applied: int | None, incoming: int) -> bool:
    """The rule itself: only a strictly newer version may be applied."""
    return last_applied is None or incoming > last_applied


AggregateKey = tuple[str, str]  # (aggregate type, aggregate id)


def lock_versions(
    connection: Connection, table: Table, consumer_group: str, keys: set[AggregateKey]
) -> dict[AggregateKey, int]:
    """The last applied version of each aggregate of a batch, rows locked (one statement)."""
    if not keys:
        return {}
    rows = connection.execute(_locking_read(table), {"group": consumer_group, "keys": sorted(keys)})
    return {(r.aggregate_type, r.aggregate_id): r.version for r in rows}


@functools.cache
def _locking_read(table: Table) -> Select[tuple[str, str, int]]:
    return (
        select(table.c.aggregate_type, table.c.aggregate_id, table.c.version)
        .where(
            table.c.consumer_group == bindparam("group"),
            tuple_(table.c.aggregate_type, table.c.aggregate_id).in_(bindparam("keys", expanding=True)),
        )
        .with_for_update()
    )


@functools.cache
def _upsert(table: Table) -> Insert:
    """One row's upsert; executed with a list of rows, the driver sends one multi-row statement."""
    upsert = mysql_insert(table)
    return upsert.on_duplicate_key_update(
        version=upsert.inserted.version, updated_at=upsert.inserted.updated_at
    )


def store_versions(
    connection: Connection,
    table: Table,
    consumer_group: str,
    versions: dict[AggregateKey, int],
    existing: set[AggregateKey],
) -> None:
    """Write a batch's new versions: one insert for aggregates seen for the first time (a
    concurrent first version fails it: RetryableConflictError, and a later try re-reads it under
    the lock), one upsert for the rest (their rows are locked by :func:`lock_versions`, so the
    update cannot race)."""
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
            connection.execute(insert_of(table), rows(first))
        except IntegrityError as exc:
            if is_duplicate_key(exc):
                raise RetryableConflictError(f"{len(first)} aggregate(s): concurrent first version") from exc
            raise
    if known:
        connection.execute(_upsert(table), rows(known))

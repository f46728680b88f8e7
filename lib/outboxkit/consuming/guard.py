"""Applied exactly once in effect: the one guard every record passes before its handler runs.

In the transaction that applies a fetch's records (a record applied alone is a batch of one),
the guard decides for each record, in order:

1. a re-injected copy of a dead letter goes on only while it is still owed (else
   NOT_PENDING) and only when it is the first pending record of its key (else STILL_PARKED);
2. **the inbox**: an event this group applied before, or met earlier in the same
   batch, is a DUPLICATE;
3. **the version guard**: an event whose version is not newer than its aggregate's
   last applied one is STALE: recorded, never applied;
4. **parking**: a live record whose key has a pending dead letter waits behind it
   (PARK): it is sent to the dead letters too, in order, and re-injected with them;
5. everything else is APPLIED: its handler runs in the same transaction.

A duplicate or a stale record never waits behind a dead letter: it can never apply, whatever
comes first.

Every decided record leaves its receipt in the inbox, the aggregates' versions move, and a
re-injected record that no longer needs to be owed leaves the dead letters, all in that one
transaction, with one statement per table for the whole batch. The guard reads and writes through
:class:`GuardTables`: :class:`SqlGuardTables` in a service, an in-memory twin in the property
tests that hold it against a model of exactly-once (``tests/unit/test_guard_properties.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from outboxkit.base.failures import RetryableConflictError
from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.topics import aggregate_type_of
from outboxkit.consuming import inbox, version_guard
from outboxkit.consuming.version_guard import AggregateKey
from outboxkit.dead_letters.queue import DeadLetterRow, DeadLetterStore, SourceRecord
from outboxkit.storage.db import is_duplicate_key
from outboxkit.storage.messaging_tables import MessagingTables


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this group applied the event before (inbox)
    STALE = "stale"  # the aggregate is past this version already (version guard)
    IGNORED = "ignored"  # no handler for this event type
    PARK = "park"  # a pending dead letter of the same key is ahead of it
    NOT_PENDING = "not pending"  # a re-injected copy of a dead letter that is no longer owed
    STILL_PARKED = "still parked"  # a re-injected copy whose key has an earlier dead letter


@dataclass(frozen=True)
class Delivery:
    """A decoded record the guard decides on."""

    event: ConsumedEvent
    source: SourceRecord  # where it was first consumed (a re-injected copy: its original)
    reinjected: bool
    handled: bool  # the group has a handler for its event type

    @property
    def aggregate(self) -> AggregateKey:
        return aggregate_type_of(self.event.topic), self.event.key or ""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    ahead: DeadLetterRow | None = None  # for PARK / STILL_PARKED: what it waits behind


@dataclass(frozen=True)
class Receipt:
    """The inbox row of a decided event."""

    event: ConsumedEvent
    aggregate_type: str
    outcome: Outcome


class GuardTables(Protocol):
    """What the guard reads and writes, inside the transaction that applies the records."""

    def pending_heads(self, keys: set[str]) -> dict[str, DeadLetterRow]:
        """The first pending dead letter of each of ``keys`` that has one."""
        ...

    def owed(self, sources: list[SourceRecord]) -> dict[SourceRecord, DeadLetterRow]:
        """The pending dead letters of these records (a re-injected copy's original)."""
        ...

    def lock_versions(self, aggregates: set[AggregateKey]) -> dict[AggregateKey, int]:
        """Each aggregate's last applied version, its row locked until the transaction ends."""
        ...

    def applied_before(self, event_ids: list[str]) -> set[str]:
        """Which of ``event_ids`` have a receipt in the inbox."""
        ...

    def store_versions(self, versions: dict[AggregateKey, int], existing: set[AggregateKey]) -> None:
        """The aggregates' new versions (``existing``: the ones that had a row)."""
        ...

    def record_receipts(self, receipts: list[Receipt]) -> None:
        """The inbox rows; a receipt another consumer wrote meanwhile is a RetryableConflictError."""
        ...

    def settle_dead_letters(self, row_ids: list[int]) -> None:
        """These dead letters are owed no more."""
        ...


def guard(tables: GuardTables, deliveries: Sequence[Delivery]) -> list[Verdict]:
    """The verdict on each delivery, in order, with the inbox, versions and dead letters written."""
    heads = tables.pending_heads({d.event.key for d in deliveries if d.event.key})
    reinjected = [d.source for d in deliveries if d.reinjected]
    owed = tables.owed(reinjected) if reinjected else {}
    verdicts: list[Verdict | None] = [None] * len(deliveries)
    settled: list[int] = []
    admitted: list[int] = []  # indexes that go on to the inbox and the version guard
    for index, delivery in enumerate(deliveries):
        head = heads.get(delivery.event.key or "")
        debt = owed.get(delivery.source)
        if not delivery.reinjected:
            if delivery.handled:
                admitted.append(index)
            else:
                verdicts[index] = Verdict(Outcome.IGNORED)
        elif debt is None:
            verdicts[index] = Verdict(Outcome.NOT_PENDING)
        elif head is not None and head.id != debt.id:
            verdicts[index] = Verdict(Outcome.STILL_PARKED, head)
        else:
            settled.append(debt.id)  # applied, a duplicate or stale now: owed no more
            if delivery.handled:
                admitted.append(index)
            else:
                verdicts[index] = Verdict(Outcome.IGNORED)
    if admitted:
        # The versions first: their row locks make a concurrent consumer of the same aggregate
        # (a rebalance overlap) commit before this one reads the inbox, so it sees its receipts.
        existing = tables.lock_versions({deliveries[i].aggregate for i in admitted})
        # Only an event that is not newer than its aggregate can have a receipt (an applied
        # event's receipt and version are written together, and versions only grow): the inbox
        # is read for those alone, so the usual batch, all new, costs no inbox read.
        not_newer = [
            deliveries[i].event.event_id
            for i in admitted
            if not version_guard.is_newer(
                existing.get(deliveries[i].aggregate), deliveries[i].event.aggregate_version
            )
        ]
        seen = tables.applied_before(not_newer) if not_newer else set()
        current = dict(existing)
        changed: dict[AggregateKey, int] = {}
        receipts: list[Receipt] = []
        for index in admitted:
            delivery = deliveries[index]
            event = delivery.event
            if event.event_id in seen:
                verdicts[index] = Verdict(Outcome.DUPLICATE)
                continue
            aggregate = delivery.aggregate
            if not version_guard.is_newer(current.get(aggregate), event.aggregate_version):
                # Stale now, stale for good (versions only grow): it never waits behind a key's
                # dead letter, and its receipt makes a later copy a duplicate.
                seen.add(event.event_id)
                receipts.append(Receipt(event, aggregate[0], Outcome.STALE))
                verdicts[index] = Verdict(Outcome.STALE)
                continue
            head = heads.get(event.key or "")
            if not delivery.reinjected and head is not None:
                verdicts[index] = Verdict(Outcome.PARK, head)
                continue
            seen.add(event.event_id)  # the same event twice in one batch: the second is a duplicate
            current[aggregate] = changed[aggregate] = event.aggregate_version
            receipts.append(Receipt(event, aggregate[0], Outcome.APPLIED))
            verdicts[index] = Verdict(Outcome.APPLIED)
        tables.store_versions(changed, set(existing))
        tables.record_receipts(receipts)
    if settled:
        tables.settle_dead_letters(settled)
    return [verdict for verdict in verdicts if verdict is not None]


class SqlGuardTables:
    """The guard's tables in the service's database, in the unit of work's transaction."""

    def __init__(self, connection: Connection, tables: MessagingTables, group: str) -> None:
        self._connection = connection
        self._tables = tables
        self._group = group
        self._dead_letters = DeadLetterStore(tables.dead_letters, group)

    def pending_heads(self, keys: set[str]) -> dict[str, DeadLetterRow]:
        return self._dead_letters.heads(self._connection, keys)

    def owed(self, sources: list[SourceRecord]) -> dict[SourceRecord, DeadLetterRow]:
        return self._dead_letters.find_all(self._connection, sources)

    def lock_versions(self, aggregates: set[AggregateKey]) -> dict[AggregateKey, int]:
        return version_guard.lock_versions(
            self._connection, self._tables.aggregate_versions, self._group, aggregates
        )

    def applied_before(self, event_ids: list[str]) -> set[str]:
        return inbox.already_processed(self._connection, self._tables.inbox, self._group, event_ids)

    def store_versions(self, versions: dict[AggregateKey, int], existing: set[AggregateKey]) -> None:
        version_guard.store_versions(
            self._connection, self._tables.aggregate_versions, self._group, versions, existing
        )

    def record_receipts(self, receipts: list[Receipt]) -> None:
        rows = [inbox.receipt_row(self._group, r.event, r.aggregate_type, r.outcome.value) for r in receipts]
        try:
            inbox.record_receipts(self._connection, self._tables.inbox, rows)
        except IntegrityError as exc:
            if is_duplicate_key(exc):
                # Another instance of the group applied one of them a moment ago (a rebalance
                # overlap): the next try finds its receipt and counts a duplicate.
                raise RetryableConflictError(f"{len(rows)} receipt(s): applied concurrently") from exc
            raise

    def settle_dead_letters(self, row_ids: list[int]) -> None:
        self._dead_letters.remove_all(self._connection, row_ids)

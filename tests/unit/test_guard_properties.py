"""The one guard (inbox + version guard + parking) against a model of exactly-once in effect.

Hypothesis draws streams of records over a few aggregates on two partitions: duplicates (the
same event again at a later offset), reordering (versions out of order, or repeated by another
event), poison records (refused until fixed), conflicts that clear and conflicts that never do,
outages waited out, and crashes between a transaction's commit and its offsets' commit (the
records are delivered again to a fresh process). The real record pipeline and applier run them
against an in-memory database that rolls back like the real one, in batches of one and in larger
batches; then the poison is fixed and every dead letter re-injected (twice, as an operator who
clicks twice would). Both runs must match a sequential model, and so each other: the same effects
in the same order per aggregate, the same inbox, the same dead letters before the re-injection,
none after.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from confluent_kafka import TopicPartition
from hypothesis import given, settings, strategies as st

from outboxkit.base.failures import (
    Backoff,
    DependencyUnavailableError,
    RecordRejectedError,
    RetryableConflictError,
    RetryPolicy,
)
from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.topics import (
    HEADER_AGGREGATE_VERSION,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    retry_topic_for,
    topic_for,
)
from outboxkit.consuming.applier import RecordApplier
from outboxkit.consuming.dispatch import EventRoutes, WithEnvelope
from outboxkit.consuming.guard import Delivery, Outcome as Verdicts, Receipt, guard
from outboxkit.consuming.health import Health
from outboxkit.consuming.metrics import ConsumerMetrics
from outboxkit.consuming.outages import OutageWaiter
from outboxkit.consuming.pipeline import RecordPipeline
from outboxkit.consuming.progress import Counters, PartitionPositions
from outboxkit.consuming.version_guard import AggregateKey
from outboxkit.dead_letters.queue import H_OFFSET, H_PARTITION, H_TOPIC, DeadLetterRow, SourceRecord
from outboxkit.domain.events import Event
from outboxkit.kafka.records import Record
from outboxkit.serialization.avro import DecodedEvent
from outboxkit.testing import InMemoryRepository, InMemoryUnitOfWork

GROUP = "things-service"
TOPIC = topic_for("thing")
RETRY = retry_topic_for(GROUP)
KEYS = ("k0", "k1", "k2")
PARTITION_OF = {"k0": 0, "k1": 1, "k2": 0}
QUICK = Backoff(initial_s=0.0001, max_s=0.0001)
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class ThingChanged(Event):
    aggregate_type: ClassVar[str] = "thing"
    key_field: ClassVar[str] = "thing_id"
    thing_id: str


@dataclass(frozen=True)
class Spec:
    """One event as its producer wrote it, and how it behaves when applied."""

    event_id: str
    key: str
    version: int
    poison: bool  # refused (RecordRejectedError) until fixed
    conflicts: int  # RetryableConflictError this many times, then fine (fewer than the attempts)
    stuck: bool  # RetryableConflictError on every try until fixed
    outages: int  # DependencyUnavailableError this many times, then fine


class Crash(BaseException):
    """The process dies between a commit and its offsets' commit."""


class Database(InMemoryUnitOfWork):
    """The group's database: what the guard keeps and what the handler did, rolled back on error."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: InMemoryRepository[str, str] = InMemoryRepository()
        self.versions: InMemoryRepository[AggregateKey, int] = InMemoryRepository()
        self.dead_letters: InMemoryRepository[int, DeadLetterRow] = InMemoryRepository()
        self.effects: InMemoryRepository[int, tuple[str, int, str]] = InMemoryRepository()


class InMemoryGuardTables:
    """The guard's tables over :class:`Database` (what SqlGuardTables does in SQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def pending_heads(self, keys: set[str]) -> dict[str, DeadLetterRow]:
        heads: dict[str, DeadLetterRow] = {}
        for row in sorted(self.db.dead_letters.items.values(), key=lambda r: r.id):
            if row.record_key in keys:
                heads.setdefault(row.record_key, row)
        return heads

    def owed(self, sources: list[SourceRecord]) -> dict[SourceRecord, DeadLetterRow]:
        return {row.source: row for row in self.db.dead_letters.items.values() if row.source in sources}

    def lock_versions(self, aggregates: set[AggregateKey]) -> dict[AggregateKey, int]:
        return {a: v for a, v in self.db.versions.items.items() if a in aggregates}

    def applied_before(self, event_ids: list[str]) -> set[str]:
        return {event_id for event_id in event_ids if event_id in self.db.inbox.items}

    def store_versions(self, versions: dict[AggregateKey, int], existing: set[AggregateKey]) -> None:
        self.db.versions.items.update(versions)

    def record_receipts(self, receipts: list[Receipt]) -> None:
        for receipt in receipts:
            if receipt.event.event_id in self.db.inbox.items:
                raise RetryableConflictError("applied concurrently")
            self.db.inbox.items[receipt.event.event_id] = receipt.outcome.value

    def settle_dead_letters(self, row_ids: list[int]) -> None:
        for row_id in row_ids:
            del self.db.dead_letters.items[row_id]


@dataclass
class InMemoryDeadLetterQueue:
    """DeadLetterQueue.send's rules, writing the pending rows into :class:`Database`."""

    db: Database
    copies: dict[int, Record] = field(default_factory=dict)
    next_id: int = 1

    def send(self, record: Record, source: SourceRecord, reason: Any) -> str:
        with self.db:
            rows = self.db.dead_letters.items
            if any(row.source == source for row in rows.values()):
                return "still pending"
            heads = InMemoryGuardTables(self.db).pending_heads({record.key or ""})
            head = reason.behind or heads.get(record.key or "")
            now = datetime.now(UTC).replace(tzinfo=None)
            row = DeadLetterRow(
                self.next_id, GROUP, record.key, source, record.headers.get(HEADER_EVENT_ID), "ThingChanged",
                head.id if head else None, reason.error_class, reason.failure.summary, reason.attempts,
                now, now, 0, self.next_id, 0, None,
            )  # fmt: skip
            rows[row.id] = row
            self.copies[row.id] = record
            self.next_id += 1
        return "dead-lettered"


@dataclass
class Handler:
    """What applying an event does: an effect row, unless its spec says it fails this time."""

    specs: dict[str, Spec]
    db: Database
    fixed: bool = False
    tries: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __call__(self, uow: Database, event: ThingChanged, envelope: Any) -> None:
        spec = self.specs[envelope.event_id]
        self.tries[spec.event_id] += 1
        tries = self.tries[spec.event_id]
        if spec.poison and not self.fixed:
            raise RecordRejectedError(f"{spec.event_id} is refused")
        if spec.stuck and not self.fixed:
            raise RetryableConflictError(f"{spec.event_id} is stuck")
        if tries <= spec.outages:
            raise DependencyUnavailableError("database", "gone for a moment")
        if tries <= spec.outages + spec.conflicts:
            raise RetryableConflictError(f"{spec.event_id} raced")
        effects = uow.effects.items
        effects[len(effects)] = (event.thing_id, envelope.aggregate_version, spec.event_id)


class CrashingDrills:
    """Apply hooks that crash the consumer right after the given commits (before the offsets)."""

    def __init__(self, crash_at: set[int]) -> None:
        self.crash_at = crash_at
        self.commits = 0

    def handler_ran(self, what: str) -> None:
        pass

    def committed(self, what: str) -> None:
        self.commits += 1
        if self.commits in self.crash_at:
            raise Crash(what)


class JsonDeserializer:
    def deserialize(self, data: bytes | None) -> DecodedEvent:
        assert data is not None
        return DecodedEvent(1, "test.ThingChanged", json.loads(data))


class PausableConsumer:
    def assignment(self) -> list[TopicPartition]:
        return []

    def pause(self, _partitions: list[TopicPartition]) -> None: ...

    def resume(self, _partitions: list[TopicPartition]) -> None: ...

    def poll(self, timeout: float = 0.0) -> None:
        return None


def record_of(spec: Spec, offset: int) -> Record:
    value = {"thingId": spec.key, "eventId": spec.event_id, "aggregateVersion": spec.version}
    headers = (
        (HEADER_EVENT_ID, spec.event_id.encode()),
        (HEADER_EVENT_TYPE, b"ThingChanged"),
        (HEADER_AGGREGATE_VERSION, str(spec.version).encode()),
    )
    return Record(
        TOPIC, PARTITION_OF[spec.key], offset, spec.key.encode(), json.dumps(value).encode(), headers
    )


@dataclass
class Outcome:
    effects: dict[str, list[tuple[int, str]]]  # per aggregate: (version, event id) applied, in order
    inbox: dict[str, str]
    parked: dict[str, list[int]]  # per key: the source offsets of its dead letters, in order
    left: int  # dead letters left after the re-injection


def run(specs: list[Spec], delivery: list[int], batch_size: int, crash_at: set[int]) -> Outcome:
    """The real pipeline over ``delivery`` (indexes into ``specs``, in the order written)."""
    db = Database()
    handler = Handler({s.event_id: s for s in specs}, db)
    queue = InMemoryDeadLetterQueue(db)
    drills = CrashingDrills(crash_at)
    partitions: dict[tuple[str, int], list[Record]] = {(TOPIC, 0): [], (TOPIC, 1): [], (RETRY, 0): []}
    for index in delivery:
        spec = specs[index]
        log = partitions[(TOPIC, PARTITION_OF[spec.key])]
        log.append(record_of(spec, len(log)))
    committed = dict.fromkeys(partitions, 0)

    def consume(topics: list[tuple[str, int]], size: int) -> None:
        """Read ``topics`` to their end; a crash starts a fresh process at the committed offsets."""
        while True:
            applier = RecordApplier(
                GROUP,
                EventRoutes({ThingChanged: WithEnvelope(handler)}, GROUP),
                lambda: db,
                InMemoryGuardTables,
                JsonDeserializer(),  # type: ignore[arg-type]
                drills,
            )
            positions = PartitionPositions()
            positions.assigned([TopicPartition(t, p) for t, p in partitions])
            counters, stop, health = Counters(), threading.Event(), Health(GROUP)
            outages = OutageWaiter(GROUP, health, counters, QUICK, stop, positions)
            outages.consumer = PausableConsumer()  # type: ignore[assignment]
            stored: dict[tuple[str, int], int] = {}

            def store(record: Record, stored: dict[tuple[str, int], int] = stored) -> None:
                stored[(record.topic, record.partition)] = record.offset + 1

            pipeline = RecordPipeline(
                applier,
                queue,  # type: ignore[arg-type]
                outages,
                counters,
                ConsumerMetrics(GROUP, counters, dict),
                RetryPolicy(MAX_ATTEMPTS, QUICK, QUICK),
                stop,
                positions,
                store,
            )
            fetched = dict(committed)
            try:
                while any(fetched[tp] < len(partitions[tp]) for tp in topics):
                    for tp in topics:  # one fetch per partition in turn
                        batch = partitions[tp][fetched[tp] : fetched[tp] + size]
                        fetched[tp] += len(batch)
                        if tp[0] == RETRY:
                            pipeline.one_by_one(batch)
                        else:
                            pipeline.handle(batch, in_one_transaction=size > 1)
                        committed.update(stored)  # the loop commits what was stored after each fetch
                return
            except Crash:
                continue

    consume([(TOPIC, 0), (TOPIC, 1)], batch_size)
    parked: dict[str, list[int]] = defaultdict(list)
    pending = sorted(db.dead_letters.items.values(), key=lambda row: row.id)
    for row in pending:
        parked[row.record_key or ""].append(row.source.offset)
    handler.fixed = True
    retry = partitions[(RETRY, 0)]
    for _ in range(2):  # an operator who re-injects twice
        for row in pending:
            copy = queue.copies[row.id]
            marks = ((H_TOPIC, row.source.topic), (H_PARTITION, str(row.source.partition)),
                     (H_OFFSET, str(row.source.offset)))  # fmt: skip
            headers = tuple((name, value.encode()) for name, value in marks)
            retry.append(Record(RETRY, 0, len(retry), copy.raw_key, copy.value, copy.header_items + headers))
    consume([(RETRY, 0)], 1)
    effects: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for _, (key, version, event_id) in sorted(db.effects.items.items()):
        effects[key].append((version, event_id))
    return Outcome(dict(effects), dict(db.inbox.items), dict(parked), len(db.dead_letters.items))


def model(specs: list[Spec], delivery: list[int]) -> Outcome:
    """Exactly-once in effect, one record at a time: each key in its partition's order; a record
    that is neither a duplicate nor stale waits behind a pending dead letter of its key; at the
    end, the waiting ones are applied in order."""
    inbox: dict[str, str] = {}
    versions: dict[str, int] = {}
    effects: dict[str, list[tuple[int, str]]] = defaultdict(list)
    parked: dict[str, list[int]] = {}
    offsets = {0: 0, 1: 0}
    by_key: dict[str, list[tuple[Spec, int]]] = defaultdict(list)
    for index in delivery:
        spec = specs[index]
        partition = PARTITION_OF[spec.key]
        by_key[spec.key].append((spec, offsets[partition]))
        offsets[partition] += 1

    def apply(spec: Spec, fixed: bool, waiting: bool = False) -> bool:
        """False: it goes to the dead letters (it fails, or its key's dead letters are waiting)."""
        if spec.event_id in inbox:
            return True
        if versions.get(spec.key, 0) >= spec.version:
            inbox[spec.event_id] = "stale"
            return True
        if waiting or (not fixed and (spec.poison or spec.stuck)):
            return False
        inbox[spec.event_id] = "applied"
        versions[spec.key] = spec.version
        effects[spec.key].append((spec.version, spec.event_id))
        return True

    for key, records in by_key.items():
        waiting: list[tuple[Spec, int]] = []
        for spec, offset in records:
            if not apply(spec, fixed=False, waiting=bool(waiting)):
                waiting.append((spec, offset))
        if waiting:
            parked[key] = [offset for _, offset in waiting]
        for spec, _ in waiting:
            apply(spec, fixed=True)
    return Outcome(dict(effects), inbox, parked, 0)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[Spec], list[int]]:
    count = draw(st.integers(1, 12))
    specs = [
        Spec(
            f"e{n}",
            draw(st.sampled_from(KEYS)),
            draw(st.integers(1, 6)),
            poison=draw(st.booleans().filter(lambda _: True)) and draw(st.integers(0, 4)) == 0,
            conflicts=draw(st.integers(0, MAX_ATTEMPTS - 2)) if draw(st.integers(0, 3)) == 0 else 0,
            stuck=draw(st.integers(0, 12)) == 0,
            outages=draw(st.integers(0, 2)) if draw(st.integers(0, 5)) == 0 else 0,
        )
        for n in range(count)
    ]
    # Every event at least once, some again later (a producer's or Connect's re-send).
    delivery = list(range(count)) + draw(st.lists(st.integers(0, count - 1), max_size=count))
    return specs, draw(st.permutations(delivery))


# No example database: the quick loop writes nothing into the checkout (.hypothesis/).
@settings(max_examples=150, deadline=None, database=None)
@given(
    stream=streams(),
    batch_size=st.integers(2, 6),
    crashes=st.sets(st.integers(1, 30), max_size=3),
)
def test_batches_and_single_records_match_the_model_of_exactly_once(
    stream: tuple[list[Spec], list[int]], batch_size: int, crashes: set[int]
) -> None:
    specs, delivery = stream
    expected = model(specs, delivery)
    one_by_one = run(specs, delivery, 1, crashes)
    batched = run(specs, delivery, batch_size, crashes)
    for outcome in (one_by_one, batched):
        assert outcome.effects == expected.effects
        assert outcome.inbox == expected.inbox
        assert outcome.parked == expected.parked
        assert outcome.left == 0
        applied = [event_id for applied in outcome.effects.values() for _, event_id in applied]
        assert len(applied) == len(set(applied))  # nothing applied twice


def test_the_model_is_not_vacuous() -> None:
    """A stream the model and the runtime agree on, with every kind of trouble in it."""
    specs = [
        Spec("a", "k0", 1, poison=False, conflicts=1, stuck=False, outages=1),
        Spec("b", "k0", 2, poison=True, conflicts=0, stuck=False, outages=0),
        Spec("c", "k0", 3, poison=False, conflicts=0, stuck=False, outages=0),
        Spec("d", "k1", 2, poison=False, conflicts=0, stuck=False, outages=0),
        Spec("e", "k1", 1, poison=False, conflicts=0, stuck=False, outages=0),
        Spec("f", "k1", 3, poison=False, conflicts=0, stuck=True, outages=0),
    ]
    delivery = [0, 1, 2, 3, 4, 0, 5, 3]
    expected = model(specs, delivery)
    assert expected.effects == {"k0": [(1, "a"), (2, "b"), (3, "c")], "k1": [(2, "d"), (3, "f")]}
    assert expected.inbox == {"a": "applied", "b": "applied", "c": "applied", "d": "applied",
                              "e": "stale", "f": "applied"}  # fmt: skip
    assert expected.parked == {"k0": [1, 2], "k1": [2]}  # "a" and "d" again: duplicates, not parked
    for size in (1, 4):
        assert run(specs, delivery, size, {2, 5}) == expected


class CountingTables(InMemoryGuardTables):
    """The in-memory tables, counting the inbox reads the guard asks for."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.inbox_reads: list[list[str]] = []

    def applied_before(self, event_ids: list[str]) -> set[str]:
        self.inbox_reads.append(list(event_ids))
        return super().applied_before(event_ids)


def delivery(event_id: str, version: int, key: str = "k1") -> Delivery:
    event = ConsumedEvent("thing.events", 0, version, key, {}, event_id, "ThingChanged", version, {}, 1, 0.0)
    return Delivery(event, SourceRecord("thing.events", 0, version), reinjected=False, handled=True)


def test_the_inbox_is_read_only_for_events_not_newer_than_their_aggregate() -> None:
    tables = CountingTables(Database())
    first = guard(tables, [delivery("e1", 1), delivery("e2", 2), delivery("e2", 2)])
    assert [v.outcome for v in first] == [Verdicts.APPLIED, Verdicts.APPLIED, Verdicts.DUPLICATE]
    assert tables.inbox_reads == []  # all new: no inbox read at all
    # Again: e2 was applied (a duplicate), e0 is older and never seen (stale), e3 is new.
    again = guard(tables, [delivery("e2", 2), delivery("e0", 0), delivery("e3", 3)])
    assert [v.outcome for v in again] == [Verdicts.DUPLICATE, Verdicts.STALE, Verdicts.APPLIED]
    assert tables.inbox_reads == [["e2", "e0"]]
    # A stale event's receipt makes its next copy a duplicate.
    assert [v.outcome for v in guard(tables, [delivery("e0", 0)])] == [Verdicts.DUPLICATE]

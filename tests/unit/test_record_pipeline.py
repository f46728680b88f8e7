"""The consumer runtime's decisions, with fakes for Kafka, the applier and the dead-letter queue:
a batch in one transaction, the one-by-one fallback, dead letters, conflicts retried then given
up, outages waited out with fetching paused, and records left un-stored when stopping or
revoked. (The same paths against the real stack: tests/integration/test_dead_letter_parking.py,
tests/e2e/test_consumer_failures.py, tests/e2e/test_outages.py.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from outboxkit.base.failures import (
    Backoff,
    DependencyUnavailableError,
    RecordRejectedError,
    RetryableConflictError,
    RetryPolicy,
)
from outboxkit.base.messages import ConsumedEvent
from outboxkit.consuming.applier import Outcome, Result
from outboxkit.consuming.health import Health
from outboxkit.consuming.metrics import ConsumerMetrics
from outboxkit.consuming.outages import OutageWaiter
from outboxkit.consuming.pipeline import RecordPipeline
from outboxkit.consuming.progress import Counters, PartitionPositions
from outboxkit.kafka.records import Record

TOPIC = "thing.events"
QUICK = Backoff(initial_s=0.001, max_s=0.001)


def record(at: int, partition: int = 0, topic: str = TOPIC) -> Record:
    return Record(topic, partition, at, f"thing-{at}".encode(), b"\x00", (("id", f"event-{at}".encode()),))


def applied(fetched: Record) -> Result:
    event = ConsumedEvent(
        TOPIC,
        fetched.partition,
        fetched.offset,
        f"thing-{fetched.offset}",
        {},
        f"event-{fetched.offset}",
        "ThingHappened",
        1,
        {},
        1,
        0.0,
    )
    return Result(Outcome.APPLIED, event)


@dataclass
class FakeApplier:
    """Applies every record unless ``failures`` scripts what a record's tries raise, in turn."""

    failures: dict[int, list[Exception]] = field(default_factory=dict)
    batch_failure: Exception | None = None
    group_id: str = "things-service"
    handlers: dict[str, Any] = field(default_factory=dict)
    tries: list[int] = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)
    on_try: Callable[[int], None] = lambda _offset: None

    def apply(self, records: list[Record]) -> list[Result]:
        """A fetch in one transaction (several records: ``batches``), or one record (``tries``)."""
        if len(records) > 1:
            self.batches.append([r.offset for r in records])
            if self.batch_failure is not None or any(self.failures.get(r.offset) for r in records):
                raise (
                    self.batch_failure
                    or self.failures[next(r.offset for r in records if self.failures.get(r.offset))][0]
                )
            return [applied(r) for r in records]
        (one,) = records
        self.tries.append(one.offset)
        self.on_try(one.offset)
        pending = self.failures.get(one.offset)
        if pending:
            raise pending.pop(0)
        return [applied(one)]


@dataclass
class FakeDeadLetters:
    sent: list[tuple[int, str]] = field(default_factory=list)

    def send(self, failed: Record, _source: object, reason: Any) -> str:
        self.sent.append((failed.offset, reason.error_class))
        return "dead-lettered"


@dataclass
class FakeConsumer:
    paused: bool = False
    pauses: int = 0
    resumes: int = 0

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, 0)]

    def pause(self, _partitions: list[TopicPartition]) -> None:
        self.paused, self.pauses = True, self.pauses + 1

    def resume(self, _partitions: list[TopicPartition]) -> None:
        self.paused, self.resumes = False, self.resumes + 1

    def poll(self, timeout: float = 0.0) -> None:
        return None

    def seek(self, _partition: TopicPartition) -> None:
        raise AssertionError("nothing was fetched while paused")


@dataclass
class Pipeline:
    applier: FakeApplier
    dead_letters: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    consumer: FakeConsumer = field(default_factory=FakeConsumer)
    health: Health = field(default_factory=lambda: Health("things-service"))
    stop: threading.Event = field(default_factory=threading.Event)
    stored: list[int] = field(default_factory=list)
    positions: PartitionPositions = field(default_factory=PartitionPositions)
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self.positions.assigned([TopicPartition(TOPIC, 0)])
        outages = OutageWaiter("things-service", self.health, self.counters, QUICK, self.stop, self.positions)
        outages.consumer = self.consumer
        self.pipeline = RecordPipeline(
            self.applier,  # type: ignore[arg-type]
            self.dead_letters,  # type: ignore[arg-type]
            outages,
            self.counters,
            ConsumerMetrics("things-service", self.counters, dict),
            RetryPolicy(max_conflict_attempts=3, conflict_backoff=QUICK, outage_backoff=QUICK),
            self.stop,
            self.positions,
            lambda stored: self.stored.append(stored.offset),
        )

    def handle(self, offsets: range | list[int], in_one_transaction: bool = True) -> bool:
        return self.pipeline.handle([record(n) for n in offsets], in_one_transaction)


def test_a_fetch_is_applied_in_one_transaction_and_every_offset_stored_in_order() -> None:
    run = Pipeline(FakeApplier())
    assert run.handle(range(5))
    assert run.applier.batches == [[0, 1, 2, 3, 4]] and run.applier.tries == []
    assert run.stored == [0, 1, 2, 3, 4]
    assert (run.counters.batches, run.counters.processed, run.counters.batches_split) == (1, 5, 0)


def test_a_record_that_cannot_be_applied_splits_its_batch_and_alone_goes_to_the_dead_letters() -> None:
    run = Pipeline(FakeApplier(failures={2: [RecordRejectedError("no such thing")]}))
    assert run.handle(range(5))
    assert run.applier.tries == [0, 1, 2, 3, 4]  # one by one after the batch failed
    assert run.dead_letters.sent == [(2, "RecordRejectedError")]
    assert run.stored == [0, 1, 2, 3, 4]  # a dead-lettered record is settled: its offset moves on
    assert (run.counters.batches_split, run.counters.processed, run.counters.dead_lettered) == (1, 4, 1)


def test_a_conflict_is_retried_a_bounded_number_of_times_then_dead_lettered() -> None:
    conflicts: list[Exception] = [RetryableConflictError(f"race {n}") for n in range(5)]
    run = Pipeline(FakeApplier(failures={0: conflicts}))
    assert run.handle([0], in_one_transaction=False)
    assert run.applier.tries == [0, 0, 0]  # max_conflict_attempts=3
    assert (run.counters.retried, run.counters.dead_lettered) == (2, 1)
    assert run.dead_letters.sent == [(0, "RetryableConflictError")]


def test_a_conflict_that_clears_is_applied_without_a_dead_letter() -> None:
    run = Pipeline(FakeApplier(failures={0: [RetryableConflictError("race")]}))
    assert run.handle([0], in_one_transaction=False)
    assert (run.counters.retried, run.counters.processed, run.dead_letters.sent) == (1, 1, [])


def test_an_outage_holds_the_record_with_fetching_paused_until_the_dependency_answers() -> None:
    down: list[Exception] = [DependencyUnavailableError("database", "connection refused") for _ in range(3)]
    run = Pipeline(FakeApplier(failures={1: down}))
    seen_paused: list[bool] = []
    run.applier.on_try = lambda offset: seen_paused.append(run.consumer.paused) if offset == 1 else None
    assert run.handle(range(3), in_one_transaction=False)
    assert run.applier.tries == [0, 1, 1, 1, 1, 2]  # the same record, tried until it went through
    assert seen_paused == [False, True, True, True]  # paused from the first failure on
    assert (run.consumer.pauses, run.consumer.resumes, run.consumer.paused) == (1, 1, False)
    assert run.health.healthy and run.counters.outages == 1
    assert run.dead_letters.sent == [] and run.stored == [0, 1, 2]


def test_stopping_during_an_outage_leaves_the_record_and_the_rest_unstored() -> None:
    run = Pipeline(FakeApplier(failures={1: [DependencyUnavailableError("registry", "timeout")] * 100}))
    run.applier.on_try = lambda offset: run.stop.set() if offset == 1 else None
    assert not run.handle(range(4), in_one_transaction=False)
    assert run.stored == [0]  # the next owner of the partition gets 1, 2 and 3
    assert not run.health.healthy and run.health.outages() == ["registry"]


def test_records_of_a_partition_revoked_meanwhile_are_passed_over_unstored() -> None:
    run = Pipeline(FakeApplier())
    run.applier.on_try = lambda offset: (
        run.positions.forget([TopicPartition(TOPIC, 0)]) if offset == 1 else None
    )
    assert run.handle(range(4), in_one_transaction=False)
    assert run.applier.tries == [0, 1] and run.stored == [0, 1]


@pytest.mark.parametrize("in_one_transaction", [True, False])
def test_a_single_record_takes_the_one_by_one_path(in_one_transaction: bool) -> None:
    run = Pipeline(FakeApplier())
    assert run.handle([7], in_one_transaction)
    assert run.applier.batches == [] and run.applier.tries == [7] and run.stored == [7]

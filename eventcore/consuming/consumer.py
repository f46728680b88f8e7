"""Offset commit atomicity (problem 5): the Kafka loop every service runs.

For each record, the applier (:mod:`eventcore.consuming.applier`) runs ONE database transaction: inbox,
version guard, handler. Only after that transaction commits is the offset stored; stored
offsets are committed after each batch and whenever partitions are revoked. A crash at any point
therefore re-delivers, never loses, and the inbox turns the re-delivery into a counted no-op.

What a failure means decides what happens to the record (:mod:`eventcore.consuming.failures`):

- an outage (database, registry, broker, gateway) keeps the record: fetching pauses, the same
  record is tried again with capped backoff for as long as the outage lasts, the process reports
  itself unhealthy, and one line is logged when the outage starts and one when it ends;
- a conflict (lock wait, deadlock) is tried a bounded number of times, then dead-lettered;
- a record that cannot be applied goes to the dead-letter queue at once, and later records of
  its key are parked behind it (:mod:`eventcore.dead_letters.queue`).

The group also reads its own retry topic, where re-injected dead letters arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from eventcore.consuming.applier import ApplyOneByOne, Outcome, RecordApplier, Result
from eventcore.consuming.failures import (
    BROKER_UNAVAILABLE,
    Failure,
    FailureKind,
    RecordRejectedError,
    RetryPolicy,
    classify,
)
from eventcore.consuming.health import Health
from eventcore.consuming.metrics import ConsumerMetrics
from eventcore.dead_letters.queue import DeadLetterQueue, DeadLetterReason, SourceRecord
from eventcore.kafka.clients import consumer_config, ensure_topics, fetch_batch, position, watermarks
from eventcore.kafka.topics import dead_letter_topic_for, retry_topic_for
from eventcore.serialization.avro import UndecodableRecordError
from eventcore.serialization.schema_registry import UnknownSchemaIdError

log = logging.getLogger(__name__)

# Failures whose message says it all; anything else is logged with its traceback (likely a bug).
EXPECTED_RECORD_FAILURES = (UndecodableRecordError, UnknownSchemaIdError, RecordRejectedError)
# How often the per-partition lag (the stats line's lag=, the lag metric) is measured.
LAG_REFRESH_S = 1.0
# A dead-letter topic keeps its records until an operator purges them.
DLQ_TOPIC_CONFIG = {"retention.ms": "-1"}


@dataclass
class Counters:
    processed: int = 0
    duplicates: int = 0
    stale: int = 0
    ignored: int = 0
    refused: int = 0  # applied, but the aggregate's guard was closed (a late or racing message)
    retried: int = 0
    dead_lettered: int = 0
    parked: int = 0
    outages: int = 0
    batches: int = 0  # applied in one transaction
    batches_split: int = 0  # a record in them failed: applied one by one instead
    lag: int = 0

    def line(self) -> str:
        return (
            f"processed={self.processed} duplicates={self.duplicates} stale={self.stale} "
            f"ignored={self.ignored} refused={self.refused} retried={self.retried} "
            f"dead-lettered={self.dead_lettered} "
            f"parked={self.parked} outages={self.outages} batches={self.batches} "
            f"split={self.batches_split} lag={self.lag}"
        )


@dataclass(frozen=True)
class ConsumerOptions:
    batch_size: int = 100
    apply_in_batches: bool = True
    poll_timeout_s: float = 0.5
    stats_interval_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Stop once every partition is read to its end (a read model's rebuild), instead of at stop().
    stop_when_caught_up: bool = False
    kafka_overrides: dict[str, object] = field(default_factory=dict)


class ConsumerRuntime:
    """Runs one consumer group over ``topics`` (plus its retry topic) until :meth:`stop`."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Iterable[str],
        applier: RecordApplier,
        dead_letters: DeadLetterQueue,
        health: Health,
        options: ConsumerOptions | None = None,
    ) -> None:
        self.group_id = applier.group_id
        self.bootstrap_servers = bootstrap_servers
        self.topics = [*topics, retry_topic_for(self.group_id)]
        self.applier = applier
        self.dead_letters = dead_letters
        self.health = health
        self.options = options or ConsumerOptions()
        self.counters = Counters()
        self.partition_lag: dict[tuple[str, int], int] = {}
        self.metrics = ConsumerMetrics(self.group_id, self.counters, lambda: dict(self.partition_lag))
        # Per partition, the offset after the last record handled: lag counts from here, not
        # from the fetch position, which runs ahead by what the client has buffered.
        self._next_to_process: dict[tuple[str, int], int] = {}
        self._owned: set[tuple[str, int]] = set()
        self._paused = False
        self._stop = threading.Event()
        self._consumer: Consumer | None = None
        self._last_stats = time.monotonic()
        self._last_lag = 0.0
        self.reached_end = False  # stop_when_caught_up: it stopped because it read everything
        self._broker_checked = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def prepare(self) -> None:
        """Create the topics this group needs that do not exist yet (needs the broker)."""
        ensure_topics(self.bootstrap_servers, self.topics)
        ensure_topics(self.bootstrap_servers, [dead_letter_topic_for(self.group_id)], config=DLQ_TOPIC_CONFIG)

    def run(self) -> Counters:
        consumer = Consumer(
            consumer_config(self.bootstrap_servers, self.group_id, **self.options.kafka_overrides)
        )
        self._consumer = consumer
        consumer.subscribe(
            self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        log.info(
            "%s: consuming %s (handlers: %s)",
            self.group_id,
            ", ".join(self.topics),
            ", ".join(sorted(self.applier.handlers)),
        )
        try:
            while not self._stop.is_set():
                fetched = self._fetch()
                # A partition holds only live or only re-injected records, so handling the two
                # kinds apart keeps every partition's order.
                live = [m for m in fetched if m.topic() != self.applier.retry_topic]
                reinjected = [m for m in fetched if m.topic() == self.applier.retry_topic]
                if len(live) > 1 and self.options.apply_in_batches:
                    went_on = self._process_batch(live)
                else:
                    went_on = self._process_one_by_one(live)
                if went_on and self._process_one_by_one(reinjected):
                    self._store_past_markers()
                self._commit()
                self._maybe_refresh_lag()
                self._maybe_log_stats()
                if self.options.stop_when_caught_up and not fetched and self._caught_up():
                    self.reached_end = True
                    self.counters.lag = self._lag()
                    log.info(
                        "%s: every partition is read to its end; %s", self.group_id, self.counters.line()
                    )
                    break
        finally:
            self._shutdown()
        return self.counters

    def _process_one_by_one(self, messages: list[Message]) -> bool:
        """False when the rest must stay un-stored (stopping, or waiting was cut short)."""
        for message in messages:
            if self._stop.is_set():
                return False  # not stored: the next owner of the partition gets it
            if (message.topic(), message.partition()) not in self._owned:
                continue  # revoked while an earlier record waited out an outage
            if not self._process(message):
                return False
            self._stored(message)
        return True

    def _process_batch(self, messages: list[Message]) -> bool:
        """Apply the batch in one transaction; if anything in it fails, one by one instead."""
        try:
            results = self.applier.apply_batch(messages)
        except Exception as exc:
            self.counters.batches_split += 1
            if not isinstance(exc, ApplyOneByOne):
                log.info(
                    "%s: a batch of %d record(s) failed (%s); applying them one by one",
                    self.group_id,
                    len(messages),
                    classify(exc).summary,
                )
            return self._process_one_by_one(messages)
        self.counters.batches += 1
        self._dependencies_answered()
        for message, result in zip(messages, results, strict=True):
            self._settle(message, result)
            self._stored(message)
        return True

    def _stored(self, message: Message) -> None:
        assert self._consumer is not None
        self._consumer.store_offsets(message)
        topic, partition, offset = position(message)
        self._next_to_process[(topic, partition)] = offset + 1

    def _store_past_markers(self) -> None:
        """Exactly-once producers (Kafka Connect's) end every transaction with a marker that
        takes an offset no poll returns. Once every record returned so far is handled, the
        consumer's position is stored, markers included: the committed offset then reaches the
        partition's end, and a group that is done has no lag of 1 per transaction left."""
        assert self._consumer is not None
        owned = [TopicPartition(t, p) for t, p in self._owned]
        ahead = [
            tp
            for tp in self._consumer.position(owned)
            if tp.offset >= 0 and tp.offset > self._next_to_process.get((tp.topic, tp.partition), tp.offset)
        ]
        if ahead:
            self._consumer.store_offsets(offsets=ahead)
            for tp in ahead:
                self._next_to_process[(tp.topic, tp.partition)] = tp.offset

    def _fetch(self) -> list[Message]:
        assert self._consumer is not None
        records = []
        for message in fetch_batch(self._consumer, self.options.batch_size, self.options.poll_timeout_s):
            error = message.error()
            if error is None:
                records.append(message)
            elif error.code() in BROKER_UNAVAILABLE:
                self.health.unavailable("broker", str(error))
            elif error.code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                log.warning("%s: consumer error: %s", self.group_id, error)
        if records:
            self.health.available("broker")
        elif "broker" in self.health.outages():
            self._probe_broker()
        return records

    def _probe_broker(self) -> None:
        now = time.monotonic()
        if now - self._broker_checked < 2.0:
            return
        self._broker_checked = now
        assert self._consumer is not None
        try:
            self._consumer.list_topics(timeout=1.0)
        except KafkaException:
            return
        self.health.available("broker")

    def _shutdown(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        started = time.monotonic()
        try:
            self._commit()
            self.counters.lag = self._lag()
        finally:
            # close() commits nothing more (auto commit is off) and leaves the group at once,
            # so the partitions move to the other instances without waiting for a timeout.
            consumer.close()
            self._consumer = None
        log.info(
            "%s: drained and left the group in %.2fs; %s",
            self.group_id,
            time.monotonic() - started,
            self.counters.line(),
        )

    # -- rebalance ---------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)  # a partition that comes back starts from its committed offset
        self._owned.update((tp.topic, tp.partition) for tp in partitions)
        try:  # where each starts, so lag is known before its first record (else: the low watermark)
            for tp in consumer.committed(partitions, timeout=10):
                if tp.offset >= 0:
                    self._next_to_process[(tp.topic, tp.partition)] = tp.offset
        except KafkaException as exc:
            log.info("%s: committed offsets unknown for now (%s)", self.group_id, exc.args[0])
        log.info("%s: assigned %s", self.group_id, _describe(partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Everything stored so far has been applied: commit it before the partitions move.
        self._commit()
        self._forget(partitions)
        log.info("%s: revoked %s", self.group_id, _describe(partitions))

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._next_to_process.pop((tp.topic, tp.partition), None)
            self._owned.discard((tp.topic, tp.partition))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)
        log.warning(
            "%s: lost %s (their records will be re-delivered; the inbox dedupes)",
            self.group_id,
            _describe(partitions),
        )

    def _commit(self) -> None:
        assert self._consumer is not None
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError._NO_OFFSET:
                return
            if error.code() in BROKER_UNAVAILABLE or error.retriable():
                # Applied records are re-delivered and deduplicated if this never goes through.
                self.health.unavailable("broker", f"offset commit failed: {error}")
            else:
                log.warning(
                    "%s: offset commit failed (%s); records since the last commit will "
                    "be re-delivered and deduplicated",
                    self.group_id,
                    error,
                )

    # -- one record --------------------------------------------------------------------------

    def _process(self, message: Message) -> bool:
        """Apply, park or dead-letter ``message``; False if it must stay un-stored (stopping, or
        its partition was revoked while it waited out an outage)."""
        conflicts = 0
        outage_tries = 0
        first_failure: datetime | None = None
        while True:
            try:
                result = self.applier.apply(message)
            except Exception as exc:
                failure = classify(exc)
                first_failure = first_failure or datetime.now(UTC)
                if failure.kind is FailureKind.OUTAGE:
                    outage_tries += 1
                    if not self._wait_out(failure, message, outage_tries):
                        return False
                    continue
                conflicts += 1
                if failure.kind is FailureKind.CONFLICT and self.options.retry.retries_conflict(conflicts):
                    if not self._back_off_conflict(message, failure, conflicts):
                        return False
                    continue
                if failure.kind is FailureKind.RECORD:
                    log.error(
                        "%s: %s cannot be applied: %s",
                        self.group_id,
                        _where(message),
                        failure.summary,
                        exc_info=not isinstance(exc, EXPECTED_RECORD_FAILURES),
                    )
                reason = DeadLetterReason(type(exc).__name__, failure, conflicts, first_failure)
                if not self._dead_letter(message, reason):
                    return False
                self.counters.dead_lettered += 1
                self._dependencies_answered()
                return True
            self._dependencies_answered()
            return self._settle(message, result)

    def _settle(self, message: Message, result: Result) -> bool:
        event = result.event
        outcome = result.outcome
        if outcome is Outcome.IGNORED:
            self.counters.ignored += 1
            return True
        assert event is not None
        if outcome is Outcome.APPLIED:
            self.counters.processed += 1
            self.metrics.applied(event, time.time())
        elif outcome is Outcome.DUPLICATE:
            self.counters.duplicates += 1
            log.info(
                "%s: duplicate %s %s for %s skipped",
                self.group_id,
                event.event_type,
                event.event_id,
                event.key,
            )
        elif outcome is Outcome.STALE:
            self.counters.stale += 1
            log.info(
                "%s: stale %s v%d for %s skipped",
                self.group_id,
                event.event_type,
                event.aggregate_version,
                event.key,
            )
        elif outcome is Outcome.NOT_PENDING:
            self.counters.duplicates += 1
            log.info(
                "%s: re-injected %s %s is no longer pending (applied or purged); skipped",
                self.group_id,
                event.event_type,
                event.event_id,
            )
        elif outcome is Outcome.STILL_PARKED:
            assert result.ahead is not None
            log.info(
                "%s: re-injected %s %s stays parked behind %s",
                self.group_id,
                event.event_type,
                event.event_id,
                result.ahead.describe(),
            )
        elif outcome is Outcome.PARK:
            assert result.ahead is not None
            if not self._dead_letter(message, DeadLetterReason.parked_behind(result.ahead)):
                return False
            self.counters.parked += 1
        return True

    def _dead_letter(self, message: Message, reason: DeadLetterReason) -> bool:
        """Send to the DLQ; waits out an outage of the broker or the database while doing so."""
        source = SourceRecord.of(message)
        tries = 0
        while True:
            try:
                what = self.dead_letters.send(message, source, reason)
                log.warning(
                    "%s: %s %s after %d attempt(s): %s",
                    self.group_id,
                    _where(message),
                    what,
                    reason.attempts,
                    reason.failure.summary,
                )
                return True
            except Exception as exc:
                failure = classify(exc)
                if failure.kind is not FailureKind.OUTAGE:
                    # Neither applied nor dead-lettered: the record must not be passed over.
                    log.exception("%s: %s could not be dead-lettered", self.group_id, _where(message))
                    failure = Failure(FailureKind.OUTAGE, failure.summary, "dead-letter queue")
                tries += 1
                if not self._wait_out(failure, message, tries):
                    return False

    def _dependencies_answered(self) -> None:
        if self._paused:
            assert self._consumer is not None
            self._consumer.resume(self._consumer.assignment())
            self._paused = False
        for dependency in self.health.outages():
            if dependency != "broker":
                self.health.available(dependency)

    def _wait_out(self, failure: Failure, message: Message, tries: int) -> bool:
        """Hold ``message`` while ``failure.dependency`` is down: pause fetching, keep serving
        the group (rebalances, liveness), wait before the next try. False when stopping or the
        partition was revoked meanwhile."""
        assert self._consumer is not None and failure.dependency is not None
        if failure.dependency not in self.health.outages():
            self.counters.outages += 1
        self.health.unavailable(failure.dependency, failure.summary, holding=_where(message))
        if not self._paused:
            self._consumer.pause(self._consumer.assignment())
            self._paused = True
        deadline = time.monotonic() + self.options.retry.outage_backoff.delay(tries)
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            stray = self._consumer.poll(min(remaining, 0.5))
            if stray is not None and stray.error() is None:
                # A partition assigned while paused delivered a record: give it back for later.
                where = TopicPartition(*position(stray))
                self._consumer.seek(where)
                self._consumer.pause([where])
            if (message.topic(), message.partition()) not in self._owned:
                log.info(
                    "%s: %s was revoked while waiting; its next owner takes it",
                    self.group_id,
                    _where(message),
                )
                return False
        return False

    def _back_off_conflict(self, message: Message, failure: Failure, attempt: int) -> bool:
        delay = self.options.retry.conflict_backoff.delay(attempt)
        self.counters.retried += 1
        log.warning(
            "%s: %s conflicted (%s); retry %d in %.2fs",
            self.group_id,
            _where(message),
            failure.summary,
            attempt,
            delay,
        )
        return not self._stop.wait(delay)

    # -- reporting ---------------------------------------------------------------------------

    def report(self) -> dict[str, object]:
        return {"group": self.group_id, "counters": vars(self.counters).copy()}

    def _maybe_refresh_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag >= LAG_REFRESH_S:
            self._last_lag = now
            self.counters.lag = self._lag()

    def _maybe_log_stats(self) -> None:
        now = time.monotonic()
        if now - self._last_stats < self.options.stats_interval_s:
            return
        self._last_stats = now
        state = "ok" if self.health.healthy else f"unavailable: {', '.join(self.health.outages())}"
        log.info("%s: %s state=%s", self.group_id, self.counters.line(), state)

    def _caught_up(self) -> bool:
        """Every partition this group reads is owned here and handled to its current end."""
        assert self._consumer is not None
        if not self._owned:
            return False
        try:
            # One request for every end offset, apart from the consumer (whose own watermark
            # requests wait behind its fetches, half a second each).
            owned = [TopicPartition(t, p) for t, p in self._owned]
            now = watermarks(self.bootstrap_servers, owned)
            for tp in self._consumer.position(owned):
                low, high = now[(tp.topic, tp.partition)]
                processed = self._next_to_process.get(
                    (tp.topic, tp.partition), tp.offset if tp.offset >= 0 else low
                )
                if processed < high:
                    return False
        except KafkaException:
            return False
        return True

    def _lag(self) -> int:
        """Records not handled yet over the owned partitions (also kept per partition)."""
        assert self._consumer is not None
        per_partition = {}
        try:
            for tp in self._consumer.position(self._consumer.assignment()):
                low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                processed = self._next_to_process.get((tp.topic, tp.partition), tp.offset)
                processed = processed if processed >= 0 else low  # nothing fetched from it yet
                if processed >= 0 and high >= 0:
                    per_partition[(tp.topic, tp.partition)] = max(0, high - processed)
        except KafkaException:
            return self.counters.lag
        self.partition_lag = per_partition
        return sum(per_partition.values())


def _where(message: Message) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"


def _describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"

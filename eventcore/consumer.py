"""Offset commit atomicity (problem 5): the consumer runtime every service runs.

For each record: decode it through the registry with this service's reader schemas, then in
ONE database transaction record it in the inbox (duplicates), advance the aggregate's version
(stale events) and run the handler (the domain change plus any outbox rows). Only after that
transaction commits is the offset stored; stored offsets are committed after each batch and
whenever partitions are revoked. A crash at any point therefore re-delivers, never loses, and
the inbox turns the re-delivery into a counted no-op.

Transient failures are retried with backoff; permanent ones and exhausted retries go to the
dead-letter topic, and the partition moves on. SIGTERM/SIGINT drain: stop fetching, finish the
record in hand, commit, leave the group.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from sqlalchemy import Table

from eventcore.avro import AvroEventDeserializer, SchemaCatalog, UndecodableRecordError
from eventcore.db import UnitOfWork
from eventcore.dead_letter import DeadLetterPublisher
from eventcore.inbox import AlreadyProcessed, record_receipt
from eventcore.kafka import consumer_config, ensure_topics, fetch_batch, producer_config
from eventcore.records import ConsumedEvent, decode
from eventcore.retry import FailureKind, PermanentError, RetryPolicy, classify, summarize
from eventcore.schema_registry import SchemaRegistryClient, SchemaRegistryError
from eventcore.settings import Settings
from eventcore.topics import TOPIC_SUFFIX, dead_letter_topic_for
from eventcore.version_guard import advance

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, ConsumedEvent], None]
# Failures whose message says it all; anything else is logged with its traceback (likely a bug).
EXPECTED_PERMANENT_FAILURES = (UndecodableRecordError, SchemaRegistryError, PermanentError)


def aggregate_type_of(topic: str) -> str:
    return topic.removesuffix(TOPIC_SUFFIX)


@dataclass
class Counters:
    processed: int = 0
    duplicates: int = 0
    stale: int = 0
    ignored: int = 0
    retried: int = 0
    dead_lettered: int = 0
    lag: int = 0

    def line(self) -> str:
        return (f"processed={self.processed} duplicates={self.duplicates} stale={self.stale} "
                f"ignored={self.ignored} retried={self.retried} "
                f"dead-lettered={self.dead_lettered} lag={self.lag}")


@dataclass
class ConsumerOptions:
    batch_size: int = 100
    poll_timeout_s: float = 0.5
    stats_interval_s: float = 10.0
    drain_timeout_s: float = 20.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    kafka_overrides: dict[str, object] = field(default_factory=dict)
    # Failure drills only, never set in normal operation (from_env reads them from
    # CONSUMER_CRASH_AFTER_COMMITS / CONSUMER_CRASH_BEFORE_COMMIT). SIGKILL this process:
    # - right after its Nth handler transaction commits, before the offset is stored: the
    #   record comes again and must not apply twice;
    # - when its Nth handler has run but its transaction has not committed: everything the
    #   handler wrote is rolled back, while calls it made to the outside world have happened.
    crash_after_commits: int | None = None
    crash_before_commit: int | None = None

    @classmethod
    def from_env(cls) -> ConsumerOptions:
        def optional_int(name: str) -> int | None:
            value = os.environ.get(name)
            return int(value) if value else None

        return cls(
            batch_size=int(os.environ.get("CONSUMER_BATCH_SIZE", "100")),
            retry=RetryPolicy(max_attempts=int(os.environ.get("CONSUMER_RETRY_MAX_ATTEMPTS", "5"))),
            crash_after_commits=optional_int("CONSUMER_CRASH_AFTER_COMMITS"),
            crash_before_commit=optional_int("CONSUMER_CRASH_BEFORE_COMMIT"),
        )


class ConsumerRuntime:
    """Runs ``handlers`` (event type -> handler) for one consumer group until stopped."""

    def __init__(
        self,
        group_id: str,
        topics: Iterable[str],
        handlers: Mapping[str, Handler],
        uow_factory: Callable[[], UnitOfWork],
        inbox_table: Table,
        versions_table: Table,
        settings: Settings | None = None,
        catalog: SchemaCatalog | None = None,
        options: ConsumerOptions | None = None,
    ) -> None:
        self.settings = settings or Settings.load()
        self.group_id = group_id
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.options = options or ConsumerOptions.from_env()
        self._uow_factory = uow_factory
        self._inbox = inbox_table
        self._versions = versions_table
        self._deserializer = AvroEventDeserializer(
            SchemaRegistryClient(self.settings.schema_registry_url), catalog
        )
        self.counters = Counters()
        self._commits = 0
        self._handled = 0
        # Per partition, the offset after the last record handled: lag counts from here, not
        # from the fetch position, which runs ahead by what the client has buffered.
        self._next_to_process: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self._consumer: Consumer | None = None
        self._dead_letters: DeadLetterPublisher | None = None
        self._last_stats = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: object) -> None:
            if self._stop.is_set():
                return
            log.info("%s: %s received, draining (at most %.0fs)", self.group_id,
                     signal.Signals(signum).name, self.options.drain_timeout_s)
            self.stop()
            # A handler stuck on a remote call must not keep the process alive for good: what it
            # had not committed is re-delivered to the next owner of the partition.
            watchdog = threading.Timer(self.options.drain_timeout_s, self._abandon_drain)
            watchdog.daemon = True
            watchdog.start()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _abandon_drain(self) -> None:
        log.error("%s: drain did not finish within %.0fs; exiting without it", self.group_id,
                  self.options.drain_timeout_s)
        logging.shutdown()
        os._exit(3)

    def run(self) -> Counters:
        bootstrap = self.settings.kafka_bootstrap_servers
        ensure_topics(bootstrap, [*self.topics, dead_letter_topic_for(self.group_id)])
        self._dead_letters = DeadLetterPublisher(Producer(producer_config(bootstrap)), self.group_id)
        consumer = Consumer(consumer_config(bootstrap, self.group_id, **self.options.kafka_overrides))
        self._consumer = consumer
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        log.info("%s: consuming %s (handlers: %s)", self.group_id, ", ".join(self.topics),
                 ", ".join(sorted(self.handlers)))
        try:
            while not self._stop.is_set():
                batch = fetch_batch(consumer, self.options.batch_size, self.options.poll_timeout_s)
                for message in batch:
                    if self._stop.is_set():
                        break  # not stored: the next owner of the partition gets it
                    self._handle_message(message)
                self._commit()
                self._maybe_log_stats()
        finally:
            self._shutdown()
        return self.counters

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
        log.info("%s: drained and left the group in %.2fs; %s", self.group_id,
                 time.monotonic() - started, self.counters.line())

    # -- rebalance ---------------------------------------------------------------------------

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)  # a partition that comes back starts from its committed offset
        log.info("%s: assigned %s", self.group_id, _describe(partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Everything stored so far has been applied: commit it before the partitions move.
        self._commit()
        self._forget(partitions)
        log.info("%s: revoked %s", self.group_id, _describe(partitions))

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._next_to_process.pop((tp.topic, tp.partition), None)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)
        log.warning("%s: lost %s (their records will be re-delivered; the inbox dedupes)",
                    self.group_id, _describe(partitions))

    def _commit(self) -> None:
        assert self._consumer is not None
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            code = exc.args[0].code()
            if code != KafkaError._NO_OFFSET:
                log.warning("%s: offset commit failed (%s); records since the last commit will "
                            "be re-delivered and deduplicated", self.group_id, exc.args[0])

    # -- one record --------------------------------------------------------------------------

    def _handle_message(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                log.warning("%s: consumer error: %s", self.group_id, error)
            return
        attempt = 0
        first_failure: datetime | None = None
        while True:
            attempt += 1
            try:
                self._apply(message)
                break
            except Exception as exc:
                first_failure = first_failure or datetime.now(UTC)
                kind = classify(exc)
                if self.options.retry.should_retry(kind, attempt) and not self._stop.is_set():
                    delay = self.options.retry.delay(attempt)
                    self.counters.retried += 1
                    log.warning("%s: %s[%d]@%d failed (%s); retry %d in %.2fs",
                                self.group_id, message.topic(), message.partition(),
                                message.offset(), summarize(exc), attempt, delay)
                    self._stop.wait(delay)
                    continue
                if kind is FailureKind.TRANSIENT and self._stop.is_set():
                    # Draining: leave the record un-stored so the next owner retries it.
                    return
                if kind is FailureKind.PERMANENT:
                    log.error("%s: %s[%d]@%d cannot be applied: %s", self.group_id,
                              message.topic(), message.partition(), message.offset(), summarize(exc),
                              exc_info=not isinstance(exc, EXPECTED_PERMANENT_FAILURES))
                assert self._dead_letters is not None
                self._dead_letters.publish(message, exc, attempt, first_failure)
                self.counters.dead_lettered += 1
                break
        assert self._consumer is not None
        self._consumer.store_offsets(message)
        self._next_to_process[(message.topic(), message.partition())] = message.offset() + 1

    def _apply(self, message: Message) -> None:
        event = decode(message, self._deserializer)
        handler = self.handlers.get(event.event_type)
        if handler is None:
            self.counters.ignored += 1
            return
        stale_behind: int | None = None
        try:
            with self._uow_factory() as uow:
                record_receipt(uow.connection, self._inbox, self.group_id, event.event_id,
                               event.event_type, event.topic, event.partition, event.offset)
                stale_behind = advance(uow.connection, self._versions, self.group_id,
                                       aggregate_type_of(event.topic), event.key or event.order_id,
                                       event.aggregate_version)
                if stale_behind is None:
                    handler(uow, event)
                    self._handled += 1
                    if self.options.crash_before_commit == self._handled:
                        self._failure_drill(f"SIGKILL before the DB commit of {event.event_type} "
                                            f"{event.event_id} (handler done)")
                # A stale event's inbox row commits too, so a replay of it counts as a duplicate.
        except AlreadyProcessed:
            self.counters.duplicates += 1
            log.info("%s: duplicate %s %s for %s skipped", self.group_id, event.event_type,
                     event.event_id, event.key)
            return
        self._commits += 1
        if self.options.crash_after_commits == self._commits:
            self._failure_drill(f"SIGKILL after DB commit of {event.event_type} {event.event_id}, "
                                "before its offset")
        if stale_behind is not None:
            self.counters.stale += 1
            log.info("%s: stale %s v%d for %s skipped (v%d already applied)", self.group_id,
                     event.event_type, event.aggregate_version, event.key, stale_behind)
            return
        self.counters.processed += 1

    def _failure_drill(self, what: str) -> None:
        log.warning("%s: failure drill: %s", self.group_id, what)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)

    def _maybe_log_stats(self) -> None:
        now = time.monotonic()
        if now - self._last_stats < self.options.stats_interval_s:
            return
        self._last_stats = now
        self.counters.lag = self._lag()
        log.info("%s: %s", self.group_id, self.counters.line())

    def _lag(self) -> int:
        assert self._consumer is not None
        total = 0
        try:
            for tp in self._consumer.position(self._consumer.assignment()):
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                processed = self._next_to_process.get((tp.topic, tp.partition), tp.offset)
                if processed >= 0 and high >= 0:
                    total += max(0, high - processed)
        except KafkaException:
            return self.counters.lag
        return total


def _describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"

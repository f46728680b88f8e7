"""Offset commit atomicity: the Kafka loop every service runs.

The loop only fetches, hands the batch to the record pipeline (:mod:`outboxkit.consuming.pipeline`:
decode, guard, apply, settle) and stores offsets: a record's offset is stored only after the
transaction that applied it committed, and stored offsets are committed to Kafka at most every
``commit_interval_s`` (each commit is a write to the broker's offsets log: once per batch, it was
the broker's busiest request after fetches), whenever partitions are revoked, and on the way out.
A crash at any point therefore re-delivers, never loses (at most that interval's records come
again), and the inbox turns the re-delivery into a counted no-op. Waiting out outages
(:mod:`outboxkit.consuming.outages`) and counting and lag (:mod:`outboxkit.consuming.progress`)
live in their own pieces.

The group also reads its own retry topic, where re-injected dead letters arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from outboxkit.base.failures import BROKER_UNAVAILABLE, RetryPolicy
from outboxkit.base.topics import dead_letter_topic_for, retry_topic_for
from outboxkit.consuming.applier import RecordApplier
from outboxkit.consuming.health import Health
from outboxkit.consuming.metrics import ConsumerMetrics
from outboxkit.consuming.outages import OutageWaiter
from outboxkit.consuming.pipeline import RecordPipeline
from outboxkit.consuming.progress import Counters, PartitionPositions, Progress
from outboxkit.dead_letters.queue import DeadLetterQueue
from outboxkit.kafka.clients import consumer_config, ensure_topics, fetch_batch
from outboxkit.kafka.records import Record

log = logging.getLogger(__name__)

# A dead-letter topic keeps its records until an operator purges them.
DLQ_TOPIC_CONFIG = {"retention.ms": "-1"}
# The group's consumer, beyond consumer_config: partitions added to a topic (a resize) are seen
# within seconds; a fetch waits up to a second for records (it returns the moment one arrives),
# so a quiet flow costs the broker one fetch a second, not two.
RUNTIME_CONSUMER = {"topic.metadata.refresh.interval.ms": 5000, "fetch.wait.max.ms": 1000}

__all__ = ["ConsumerOptions", "ConsumerRuntime", "Counters"]


@dataclass(frozen=True)
class ConsumerOptions:
    batch_size: int = 100
    apply_in_batches: bool = True
    poll_timeout_s: float = 0.5
    stats_interval_s: float = 10.0
    # Stored offsets go to Kafka at most this often (0: after every batch).
    commit_interval_s: float = 0.2
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
        self.retry_topic = applier.retry_topic
        self.health = health
        self.options = options or ConsumerOptions()
        self.positions = PartitionPositions()
        self.progress = Progress(self.group_id, self.positions, self.options.stats_interval_s)
        self.counters = self.progress.counters
        self.metrics = ConsumerMetrics(
            self.group_id, self.counters, lambda: dict(self.progress.partition_lag)
        )
        self._stop = threading.Event()
        self.outages = OutageWaiter(
            self.group_id,
            health,
            self.counters,
            self.options.retry.outage_backoff,
            self._stop,
            self.positions,
        )
        self.pipeline = RecordPipeline(
            applier,
            dead_letters,
            self.outages,
            self.counters,
            self.metrics,
            self.options.retry,
            self._stop,
            self.positions,
            self._stored,
        )
        self._consumer: Consumer | None = None
        self.reached_end = False  # stop_when_caught_up: it stopped because it read everything
        self._broker_checked = 0.0
        self._committed_at = 0.0

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
            consumer_config(
                self.bootstrap_servers, self.group_id, **{**RUNTIME_CONSUMER, **self.options.kafka_overrides}
            )
        )
        self._consumer = consumer
        self.outages.consumer = consumer
        consumer.subscribe(
            self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        log.info(
            "%s: consuming %s (handlers: %s)",
            self.group_id,
            ", ".join(self.topics),
            ", ".join(self.pipeline.applier.routes.event_types),
        )
        try:
            while not self._stop.is_set():
                fetched = self._fetch()
                # A partition holds only live or only re-injected records, so handling the two
                # kinds apart keeps every partition's order; re-injected ones go one by one.
                live = [r for r in fetched if r.topic != self.retry_topic]
                reinjected = [r for r in fetched if r.topic == self.retry_topic]
                went_on = self.pipeline.handle(live, in_one_transaction=self.options.apply_in_batches)
                if went_on and self.pipeline.one_by_one(reinjected):
                    self._store_past_markers()
                self._commit_when_due()
                self.progress.tick(consumer, self.health)
                if self.options.stop_when_caught_up and not fetched and self._caught_up():
                    self.reached_end = True
                    self.counters.lag = self.progress.lag(consumer)
                    log.info(
                        "%s: every partition is read to its end; %s", self.group_id, self.counters.line()
                    )
                    break
        finally:
            self._shutdown()
        return self.counters

    def _caught_up(self) -> bool:
        assert self._consumer is not None
        return self.progress.caught_up(self._consumer, self.bootstrap_servers)

    def _stored(self, record: Record) -> None:
        assert self._consumer is not None
        self._consumer.store_offsets(offsets=[record.next_position])
        self.positions.handled(record.topic, record.partition, record.offset + 1)

    def _store_past_markers(self) -> None:
        """Exactly-once producers (Kafka Connect's) end every transaction with a marker that
        takes an offset no poll returns. Once every record returned so far is handled, the
        consumer's position is stored, markers included: the committed offset then reaches the
        partition's end, and a group that is done has no lag of 1 per transaction left."""
        assert self._consumer is not None
        owned = [TopicPartition(t, p) for t, p in self.positions.owned]
        handled = self.positions.next_to_process
        ahead = [
            tp
            for tp in self._consumer.position(owned)
            if tp.offset >= 0 and tp.offset > handled.get((tp.topic, tp.partition), tp.offset)
        ]
        if ahead:
            self._consumer.store_offsets(offsets=ahead)
            for tp in ahead:
                self.positions.handled(tp.topic, tp.partition, tp.offset)

    def _fetch(self) -> list[Record]:
        assert self._consumer is not None
        records = []
        for message in fetch_batch(self._consumer, self.options.batch_size, self.options.poll_timeout_s):
            error = message.error()
            if error is None:
                records.append(Record.of(message))
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
            self.counters.lag = self.progress.lag(consumer)
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
        self.positions.assigned(partitions)
        try:  # where each starts, so lag is known before its first record (else: the low watermark)
            for tp in consumer.committed(partitions, timeout=10):
                if tp.offset >= 0:
                    self.positions.handled(tp.topic, tp.partition, tp.offset)
        except KafkaException as exc:
            log.info("%s: committed offsets unknown for now (%s)", self.group_id, exc.args[0])
        log.info("%s: assigned %s", self.group_id, _describe(partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Everything stored so far has been applied: commit it before the partitions move.
        self._commit()
        self.positions.forget(partitions)
        log.info("%s: revoked %s", self.group_id, _describe(partitions))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.positions.forget(partitions)
        log.warning(
            "%s: lost %s (their records will be re-delivered; the inbox dedupes)",
            self.group_id,
            _describe(partitions),
        )

    def _commit_when_due(self) -> None:
        now = time.monotonic()
        if now - self._committed_at >= self.options.commit_interval_s:
            self._committed_at = now
            self._commit()

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
                    "%s: offset commit failed (%s); records since the last commit will be "
                    "re-delivered and deduplicated",
                    self.group_id,
                    error,
                )

    # -- reporting ---------------------------------------------------------------------------

    @property
    def partition_lag(self) -> dict[tuple[str, int], int]:
        return self.progress.partition_lag

    def report(self) -> dict[str, object]:
        return {"group": self.group_id, "counters": vars(self.counters).copy()}


def _describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"

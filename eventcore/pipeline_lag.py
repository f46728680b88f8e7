"""How far behind the event pipeline is, in seconds: what a saga deadline must not count.

A saga step's deadline is about the step, not about the queue in front of it. When the
consumers of the flow (or CDC) are behind, an order's reply is late because its events wait in
line, not because a step failed: cancelling it then refunds and releases orders that nothing
failed. :class:`PipelineLag` measures the wait: for each hop of the flow (a consumer group on a
topic), the age of the oldest record the group has not committed yet; for CDC, how long a
connector has written no heartbeat. The saga's timeout sweep pushes its cutoff back by that
much (up to an allowance, so a part that stays down still ends in timeouts).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, TopicPartition

from eventcore.kafka import CommittedOffsets, consumer_config, partitions_of

# A connector writes a heartbeat every second (connect/connectors/); older than this, CDC waits.
HEARTBEAT_GRACE_S = 5.0
# How far back from a partition's end its newest record is looked for. Connect publishes
# exactly-once, so each transaction ends with a commit marker that takes an offset but is no
# record: the newest record is at least one offset before the end, never exactly at it.
TAIL_OFFSETS = 20


@dataclass(frozen=True)
class Hop:
    """A consumer group reading a topic: one place where the flow's events can wait."""

    group: str
    topic: str


class PipelineLag:
    def __init__(self, bootstrap_servers: str, hops: Iterable[Hop],
                 heartbeat_topics: Iterable[str] = ()) -> None:
        self.hops = list(hops)
        self.heartbeat_topics = list(heartbeat_topics)
        self._committed = CommittedOffsets(bootstrap_servers)
        self._reader = Consumer(consumer_config(bootstrap_servers, f"pipeline-lag-{uuid.uuid4()}",
                                                **{"enable.partition.eof": True,
                                                   "fetch.wait.max.ms": 50}))

    def seconds(self, now: float | None = None) -> float:
        """The longest any event of the flow has been waiting now (0 when nothing waits).
        Raises KafkaException when the broker cannot be asked."""
        waiting = self._timestamps(self._oldest_waiting())
        heartbeats = self._newest_timestamps(self.heartbeat_topics).values()
        # "now" once everything is read: a slow answer makes the figure larger, never smaller
        # (a sweep that cancels after it must not think the queue younger than it is).
        now = time.time() if now is None else now
        ages = [now - stamp for stamp in waiting.values()]
        ages += [now - last for last in heartbeats if now - last > HEARTBEAT_GRACE_S]
        return max([0.0, *ages])

    def _oldest_waiting(self) -> list[TopicPartition]:
        """Per partition of the hops, the first record a group reading it has not committed yet
        (the oldest, when several groups read the same topic)."""
        waiting: dict[tuple[str, int], int] = {}
        by_group: dict[str, list[str]] = {}
        for hop in self.hops:
            by_group.setdefault(hop.group, []).append(hop.topic)
        for group, topics in by_group.items():
            wanted = partitions_of(self._reader, topics)
            for tp in self._committed.of(group, wanted):
                low, high = self._reader.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                               timeout=10, cached=False)
                position = tp.offset if tp.offset >= 0 else low
                key = (tp.topic, tp.partition)
                if position < high and position < waiting.get(key, high):
                    waiting[key] = position
        return [TopicPartition(topic, partition, offset) for (topic, partition), offset in waiting.items()]

    def _timestamps(self, partitions: list[TopicPartition]) -> dict[tuple[str, int], float]:
        """The timestamp (epoch seconds) of the first record at or after each given position."""
        return {key: stamps[0] for key, stamps in self._read(partitions, to_the_end=False).items()}

    def _newest_timestamps(self, topics: list[str]) -> dict[str, float]:
        """The timestamp of the newest record on each topic (topics with none left out)."""
        existing = self._reader.list_topics(timeout=10).topics
        # A heartbeat topic not there yet: its connector is not registered, which says nothing
        # about lag.
        tails: list[TopicPartition] = []
        for tp in partitions_of(self._reader, [t for t in topics if t in existing]):
            low, high = self._reader.get_watermark_offsets(tp, timeout=10, cached=False)
            if high > low:
                tails.append(TopicPartition(tp.topic, tp.partition, max(low, high - TAIL_OFFSETS)))
        newest: dict[str, float] = {}
        for (topic, _), stamps in self._read(tails, to_the_end=True).items():
            newest[topic] = max(newest.get(topic, 0.0), *stamps)
        return newest

    def _read(self, partitions: list[TopicPartition], to_the_end: bool,
              timeout_s: float = 3.0) -> dict[tuple[str, int], list[float]]:
        """Record timestamps from each given position: the first record only, or every record up
        to the partition's end. A partition whose end comes first (only transaction markers
        left) gives none, without waiting out the timeout."""
        read: dict[tuple[str, int], list[float]] = {}
        unfinished = {(tp.topic, tp.partition) for tp in partitions}
        if not unfinished:
            return read
        self._reader.assign(partitions)
        deadline = time.monotonic() + timeout_s
        while unfinished and time.monotonic() < deadline:
            message = self._reader.poll(0.2)
            if message is None:
                continue
            key = (message.topic(), message.partition())
            if message.error() is None:
                read.setdefault(key, []).append(message.timestamp()[1] / 1000)
                if not to_the_end:
                    unfinished.discard(key)
            elif message.error().code() == KafkaError._PARTITION_EOF:
                unfinished.discard(key)
        self._reader.unassign()
        return read

    def close(self) -> None:
        self._reader.close()
        self._committed.close()

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

from confluent_kafka import Consumer, TopicPartition

from eventcore.kafka import CommittedOffsets, consumer_config, partitions_of

# A connector writes a heartbeat every second (connect/connectors/); older than this, CDC waits.
HEARTBEAT_GRACE_S = 5.0


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
        self._reader = Consumer(consumer_config(bootstrap_servers, f"pipeline-lag-{uuid.uuid4()}"))

    def seconds(self, now: float | None = None) -> float:
        """The longest any event of the flow has been waiting now (0 when nothing waits).
        Raises KafkaException when the broker cannot be asked."""
        now = time.time() if now is None else now
        waiting = self._oldest_waiting()
        ages = [now - stamp for stamp in self._timestamps(waiting).values()]
        for topic in self.heartbeat_topics:
            last = self._newest_timestamp(topic)
            if last is not None and now - last > HEARTBEAT_GRACE_S:
                ages.append(now - last)
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

    def _timestamps(
        self, partitions: list[TopicPartition], timeout_s: float = 3.0
    ) -> dict[tuple[str, int], float]:
        """The timestamp (epoch seconds) of the record at each given position."""
        found: dict[tuple[str, int], float] = {}
        if not partitions:
            return found
        self._reader.assign(partitions)
        deadline = time.monotonic() + timeout_s
        while len(found) < len(partitions) and time.monotonic() < deadline:
            message = self._reader.poll(0.2)
            if message is not None and message.error() is None:
                found.setdefault((message.topic(), message.partition()), message.timestamp()[1] / 1000)
        self._reader.unassign()
        return found

    def _newest_timestamp(self, topic: str) -> float | None:
        newest: list[TopicPartition] = []
        if topic not in self._reader.list_topics(timeout=10).topics:
            return None  # no heartbeat yet: a connector not registered says nothing about lag
        for tp in partitions_of(self._reader, [topic]):
            low, high = self._reader.get_watermark_offsets(tp, timeout=10, cached=False)
            if high > low:
                newest.append(TopicPartition(topic, tp.partition, high - 1))
        stamps = self._timestamps(newest)
        return max(stamps.values()) if stamps else None

    def close(self) -> None:
        self._reader.close()
        self._committed.close()

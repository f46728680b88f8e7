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

from outboxkit.kafka.clients import (
    CommittedOffsets,
    consumer_config,
    newest_timestamps,
    partitions_of,
    record_timestamps,
)

# A connector writes a heartbeat every 2 s (outbox_connector.json); older than this, CDC waits.
HEARTBEAT_GRACE_S = 5.0


@dataclass(frozen=True)
class Hop:
    """A consumer group reading a topic: one place where the flow's events can wait."""

    group: str
    topic: str


class PipelineLag:
    """How far behind the pipeline is: for each hop (a group reading a topic), the age of its
    oldest record not yet committed, and the connectors' heartbeats; what a saga deadline adds
    before it gives up on a reply that is only late."""

    def __init__(
        self, bootstrap_servers: str, hops: Iterable[Hop], heartbeat_topics: Iterable[str] = ()
    ) -> None:
        self.hops = list(hops)
        self.heartbeat_topics = list(heartbeat_topics)
        self._committed = CommittedOffsets(bootstrap_servers)
        self._reader = Consumer(
            consumer_config(bootstrap_servers, f"pipeline-lag-{uuid.uuid4()}", **{"fetch.wait.max.ms": 50})
        )

    def seconds(self, now: float | None = None) -> float:
        """The longest any event of the flow has been waiting now (0 when nothing waits).
        Raises KafkaException when the broker cannot be asked."""
        waiting = self._timestamps(self._oldest_waiting())
        # A heartbeat topic not there yet: its connector is not registered, which says nothing
        # about lag (left out by newest_timestamps).
        heartbeats = newest_timestamps(self._reader, self.heartbeat_topics).values()
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
                low, high = self._reader.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition), timeout=10, cached=False
                )
                position = tp.offset if tp.offset >= 0 else low
                key = (tp.topic, tp.partition)
                if position < high and position < waiting.get(key, high):
                    waiting[key] = position
        return [TopicPartition(topic, partition, offset) for (topic, partition), offset in waiting.items()]

    def _timestamps(self, partitions: list[TopicPartition]) -> dict[tuple[str, int], float]:
        """The timestamp (epoch seconds) of the first record at or after each given position."""
        read = record_timestamps(self._reader, partitions, first_only=True)
        return {key: stamps[0] for key, stamps in read.items()}

    def close(self) -> None:
        self._reader.close()
        self._committed.close()

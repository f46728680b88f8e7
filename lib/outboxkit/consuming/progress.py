"""What a consumer group has done and where it stands: its counters, the partitions it owns with
the offset after the last record handled in each, its lag, and the periodic stats line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import KafkaException, TopicPartition

from outboxkit.consuming.health import Health
from outboxkit.kafka.clients import watermarks

log = logging.getLogger(__name__)

# How often the per-partition lag (the stats line's lag=, the lag metric) is measured.
LAG_REFRESH_S = 1.0

Partition = tuple[str, int]


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


@dataclass
class PartitionPositions:
    """The partitions this member owns, and per partition the offset after the last record
    handled: lag counts from there, not from the fetch position, which runs ahead by what the
    client has buffered."""

    owned: set[Partition] = field(default_factory=set)
    next_to_process: dict[Partition, int] = field(default_factory=dict)

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        self.forget(partitions)  # a partition that comes back starts from its committed offset
        self.owned.update((tp.topic, tp.partition) for tp in partitions)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.next_to_process.pop((tp.topic, tp.partition), None)
            self.owned.discard((tp.topic, tp.partition))

    def owns(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self.owned

    def handled(self, topic: str, partition: int, offset: int) -> None:
        """Everything before ``offset`` is handled."""
        self.next_to_process[(topic, partition)] = offset


class PositionedConsumer(Protocol):
    """What lag needs of the Kafka consumer (a fake in unit tests)."""

    def assignment(self) -> list[TopicPartition]: ...

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = ..., cached: bool = ...
    ) -> tuple[int, int]: ...


class Progress:
    """The group's counters and lag, and the stats line every ``stats_interval_s``."""

    def __init__(self, group_id: str, positions: PartitionPositions, stats_interval_s: float) -> None:
        self.group_id = group_id
        self.positions = positions
        self.stats_interval_s = stats_interval_s
        self.counters = Counters()
        self.partition_lag: dict[Partition, int] = {}
        self._last_stats = time.monotonic()
        self._last_lag = 0.0

    def tick(self, consumer: PositionedConsumer, health: Health) -> None:
        """After a fetch: the lag once a second, the stats line once an interval."""
        now = time.monotonic()
        if now - self._last_lag >= LAG_REFRESH_S:
            self._last_lag = now
            self.counters.lag = self.lag(consumer)
        if now - self._last_stats >= self.stats_interval_s:
            self._last_stats = now
            state = "ok" if health.healthy else f"unavailable: {', '.join(health.outages())}"
            log.info("%s: %s state=%s", self.group_id, self.counters.line(), state)

    def lag(self, consumer: PositionedConsumer) -> int:
        """Records not handled yet over the owned partitions (also kept per partition)."""
        per_partition = {}
        try:
            for tp in consumer.position(consumer.assignment()):
                low, high = consumer.get_watermark_offsets(tp, cached=True)
                processed = self.positions.next_to_process.get((tp.topic, tp.partition), tp.offset)
                processed = processed if processed >= 0 else low  # nothing fetched from it yet
                if processed >= 0 and high >= 0:
                    per_partition[(tp.topic, tp.partition)] = max(0, high - processed)
        except KafkaException:
            return self.counters.lag
        self.partition_lag = per_partition
        return sum(per_partition.values())

    def caught_up(self, consumer: PositionedConsumer, bootstrap_servers: str) -> bool:
        """Every partition this member owns is handled to its current end."""
        if not self.positions.owned:
            return False
        try:
            # One request for every end offset, apart from the consumer (whose own watermark
            # requests wait behind its fetches, half a second each).
            owned = [TopicPartition(t, p) for t, p in self.positions.owned]
            now = watermarks(bootstrap_servers, owned)
            for tp in consumer.position(owned):
                low, high = now[(tp.topic, tp.partition)]
                processed = self.positions.next_to_process.get(
                    (tp.topic, tp.partition), tp.offset if tp.offset >= 0 else low
                )
                if processed < high:
                    return False
        except KafkaException:
            return False
        return True

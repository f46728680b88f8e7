"""Holding a record while a dependency is down.

An outage says nothing about the record: the consumer keeps it, pauses fetching (while still
serving the group: rebalances, liveness), reports the dependency unavailable (one log line when
the outage starts, one when it ends: :class:`~outboxkit.consuming.health.Health`), waits with
capped backoff and tries the same record again; once anything answers, fetching resumes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from confluent_kafka import Message, TopicPartition

from outboxkit.base.failures import Backoff, Failure
from outboxkit.consuming.health import Health
from outboxkit.consuming.progress import Counters, PartitionPositions
from outboxkit.kafka.records import Record

log = logging.getLogger(__name__)


class PausableConsumer(Protocol):
    """What waiting needs of the Kafka consumer (a fake in unit tests)."""

    def assignment(self) -> list[TopicPartition]: ...

    def pause(self, partitions: list[TopicPartition]) -> None: ...

    def resume(self, partitions: list[TopicPartition]) -> None: ...

    def poll(self, timeout: float = ...) -> Message | None: ...

    def seek(self, partition: TopicPartition) -> None: ...


class OutageWaiter:
    def __init__(
        self,
        group_id: str,
        health: Health,
        counters: Counters,
        backoff: Backoff,
        stop: threading.Event,
        positions: PartitionPositions,
    ) -> None:
        self.group_id = group_id
        self.health = health
        self.counters = counters
        self.backoff = backoff
        self.stop = stop
        self.positions = positions
        self.consumer: PausableConsumer | None = None
        self.paused = False

    def wait_out(self, failure: Failure, record: Record, tries: int) -> bool:
        """Hold ``record`` while ``failure.dependency`` is down, then return True to try it
        again; False when stopping or when its partition was revoked meanwhile."""
        assert self.consumer is not None and failure.dependency is not None
        if failure.dependency not in self.health.outages():
            self.counters.outages += 1
        self.health.unavailable(failure.dependency, failure.summary, holding=record.where)
        if not self.paused:
            self.consumer.pause(self.consumer.assignment())
            self.paused = True
        deadline = time.monotonic() + self.backoff.delay(tries)
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            stray = self.consumer.poll(min(remaining, 0.5))
            if stray is not None and stray.error() is None:
                # A partition assigned while paused delivered a record: give it back for later.
                back = Record.of(stray).position
                self.consumer.seek(back)
                self.consumer.pause([back])
            if not self.positions.owns(record.topic, record.partition):
                log.info(
                    "%s: %s was revoked while waiting; its next owner takes it", self.group_id, record.where
                )
                return False
        return False

    def answered(self) -> None:
        """Something was applied or dead-lettered: fetching goes on, the outages are over (the
        broker's is ended by the next fetch that returns records)."""
        if self.paused:
            assert self.consumer is not None
            self.consumer.resume(self.consumer.assignment())
            self.paused = False
        for dependency in self.health.outages():
            if dependency != "broker":
                self.health.available(dependency)

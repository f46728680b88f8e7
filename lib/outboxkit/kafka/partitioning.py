"""Key design at scale: which partition a key lands on, how a keyed topic's records
spread over its partitions, and its hottest keys.

Every event of one aggregate carries its id as the record key, and a key's partition is
``murmur2(key) % partitions`` (:func:`partition_for`, as the Java clients that Connect and so
Debezium use compute it): all of a key's records stay on one partition and arrive in order. A
hot key is the price: all of its records go to one partition by design, so no partition count
spreads it. :func:`skew` shows both the spread and the hottest keys. Adding partitions without
breaking any key's order is an operation of its own (:mod:`outboxkit.operations.resize`).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from outboxkit.base.errors import NotFoundError
from outboxkit.base.topics import DEFAULT_PARTITIONS
from outboxkit.kafka.clients import CommittedOffsets, consumer_config, partitions_of, watermarks
from outboxkit.kafka.records import Record


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (``org.apache.kafka.common.utils.Utils.murmur2``), as a signed int32."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length % 4
    if tail:
        rest = data[length - tail :]
        if tail == 3:
            h ^= rest[2] << 16
        if tail >= 2:
            h ^= rest[1] << 8
        h ^= rest[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: str | bytes, partitions: int = DEFAULT_PARTITIONS) -> int:
    """The partition the Java clients (Connect, hence Debezium) give ``key``: where its events are."""
    data = key.encode() if isinstance(key, str) else key
    return (murmur2(data) & 0x7FFFFFFF) % partitions


def groups_reading(admin: AdminClient, committed: CommittedOffsets, topic: str) -> list[str]:
    """Consumer groups with committed offsets on ``topic``."""
    listed = admin.list_consumer_groups(request_timeout=15).result()
    partitions = partitions_of(admin, [topic])
    return sorted(
        group.group_id
        for group in listed.valid
        if any(tp.offset >= 0 for tp in committed.of(group.group_id, partitions))
    )


def group_backlog(
    admin: AdminClient, committed: CommittedOffsets, bootstrap_servers: str, group: str, topic: str
) -> int:
    partitions = partitions_of(admin, [topic])
    ends = watermarks(bootstrap_servers, partitions)
    return sum(
        max(
            0,
            ends[(tp.topic, tp.partition)][1]
            - (tp.offset if tp.offset >= 0 else ends[(tp.topic, tp.partition)][0]),
        )
        for tp in committed.of(group, partitions)
    )


@dataclass
class Skew:
    topic: str
    records: dict[int, int]  # partition -> records it holds now
    sampled: int
    keys: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.records.values())

    def as_json(self, hottest: int = 10) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "offsets": self.total,
            "partitions": {str(p): count for p, count in sorted(self.records.items())},
            "sampled": self.sampled,
            "hottestKeys": [{"key": key, "records": n} for key, n in self.keys.most_common(hottest)],
        }

    def lines(self, hottest: int = 10) -> list[str]:
        total = self.total or 1
        mean = total / max(1, len(self.records))
        out = [
            f"{self.topic}: {self.total} offset(s) on {len(self.records)} partition(s) (records, and a "
            "marker per exactly-once transaction)"
        ]
        for partition, count in sorted(self.records.items()):
            share = count / mean if mean else 0.0
            out.append(f"  [{partition}] {count:>10}  {count / total:6.1%}  {share:5.2f}x the mean")
        if self.sampled:
            out.append(f"hottest keys in the last {self.sampled} record(s) read:")
            for key, count in self.keys.most_common(hottest):
                out.append(f"  {key}: {count} ({count / self.sampled:.1%})")
            top, count = self.keys.most_common(1)[0] if self.keys else ("", 0)
            if count / self.sampled > 1 / max(1, len(self.records)):
                out.append(
                    f"key {top} alone is more than one partition's fair share: more partitions "
                    "cannot spread it (all of a key's records go to one partition, which keeps "
                    "their order); only a finer key (and the order it gives up) can"
                )
        return out


def skew(
    bootstrap_servers: str, topic: str, sample_per_partition: int = 2000, timeout_s: float = 30.0
) -> Skew:
    """Records per partition, and the keys of the newest ``sample_per_partition`` of each
    (``timeout_s``: for the broker to answer, and for the sampling)."""
    reader = Consumer(consumer_config(bootstrap_servers, f"skew-{uuid.uuid4()}"))
    try:
        partitions = partitions_of(reader, [topic], timeout_s)
        if not partitions:
            raise NotFoundError(f"no topic {topic}")
        bounds = {p: ends for (_t, p), ends in watermarks(bootstrap_servers, partitions).items()}
        found = Skew(topic, {p: high - low for p, (low, high) in bounds.items()}, 0)
        starts = [
            TopicPartition(topic, p, max(low, high - sample_per_partition))
            for p, (low, high) in bounds.items()
        ]
        reader.assign(starts)
        remaining = {tp.partition for tp in starts if tp.offset < bounds[tp.partition][1]}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is None or message.error() is not None:
                continue
            record = Record.of(message)
            found.keys[record.key or ""] += 1
            found.sampled += 1
            if record.offset >= bounds[record.partition][1] - 1:
                remaining.discard(record.partition)
            for tp in reader.position([TopicPartition(topic, p) for p in list(remaining)]):
                if tp.offset >= bounds[tp.partition][1]:
                    remaining.discard(tp.partition)
        return found
    finally:
        reader.close()

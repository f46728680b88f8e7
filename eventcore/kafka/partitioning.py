"""Key design at scale (problem 7): how a keyed topic's records spread over its partitions, and
adding partitions without breaking any key's order.

A group's consumers scale to the partition count of what they read: past it, the extra ones
idle. More partitions fix that, but a key's partition is ``murmur2(key) % partitions``: after
the change a key's new records may land on another partition than its old ones, and a consumer
could read the new before the old. :func:`resize` prevents that: it stops the writers (the
connectors, paused), waits until every consumer group reading the topic has committed to its
end, adds the partitions, and lets the writers go on. Every record written before the change
has then been handled by every group before any record after it exists.

A hot key is another matter: all of its records go to one partition by design (its order), so
no partition count spreads it. :func:`skew` shows both the spread and the hottest keys.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions  # type: ignore[attr-defined]

from eventcore.base.errors import EventcoreError
from eventcore.cdc.connect_client import ConnectClient
from eventcore.kafka.clients import (
    CommittedOffsets,
    admin_client,
    consumer_config,
    partitions_of,
    position,
    watermarks,
)

Progress = Callable[[str], None]


class ResizeRefused(EventcoreError):
    """The resize cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class ResizePlan:
    topic: str
    current: int
    wanted: int
    connectors: list[str]  # the connectors that write the topic: paused while it changes
    groups: list[str]  # the consumer groups that read it: drained before it changes

    def describe(self) -> str:
        return (
            f"{self.topic}: {self.current} -> {self.wanted} partitions. Pause "
            f"{', '.join(self.connectors) or 'no connector (none writes it)'}; wait until "
            f"{', '.join(self.groups) or 'no group (none reads it)'} committed to its end; add "
            f"{self.wanted - self.current} partition(s); resume the connectors"
        )


def groups_reading(admin: AdminClient, committed: CommittedOffsets, topic: str) -> list[str]:
    """Consumer groups with committed offsets on ``topic``."""
    listed = admin.list_consumer_groups(request_timeout=15).result()
    partitions = partitions_of(admin, [topic])
    return sorted(
        group.group_id
        for group in listed.valid
        if any(tp.offset >= 0 for tp in committed.of(group.group_id, partitions))
    )


def plan_resize(bootstrap_servers: str, connect: ConnectClient, topic: str, wanted: int) -> ResizePlan:
    admin = admin_client(bootstrap_servers)
    current = len(partitions_of(admin, [topic]))
    if current == 0:
        raise ResizeRefused(f"no topic {topic}")
    if wanted < current:
        raise ResizeRefused(
            f"{topic} has {current} partitions: Kafka cannot take partitions away (and "
            "every key would move); create a new topic instead"
        )
    if wanted == current:
        raise ResizeRefused(f"{topic} already has {current} partitions")
    writers = [name for name in connect.connectors() if topic in connect.topics(name)]
    with CommittedOffsets(bootstrap_servers) as committed:
        return ResizePlan(topic, current, wanted, writers, groups_reading(admin, committed, topic))


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


def resize(
    plan: ResizePlan,
    bootstrap_servers: str,
    connect: ConnectClient,
    drain_timeout_s: float = 300.0,
    progress: Progress = print,
) -> float:
    """Carry out ``plan``; returns how long the writers were paused. The connectors are resumed
    whatever happens (a drain that times out changes nothing)."""
    admin = admin_client(bootstrap_servers)
    paused_at = time.monotonic()
    for name in plan.connectors:
        connect.pause(name)
        connect.wait_for_state(name, "PAUSED", 60)
        progress(f"{name}: paused")
    committed = CommittedOffsets(bootstrap_servers)
    try:
        deadline = time.monotonic() + drain_timeout_s
        said = 0.0
        while True:
            left = {
                group: group_backlog(admin, committed, bootstrap_servers, group, plan.topic)
                for group in plan.groups
            }
            if not any(left.values()):
                break
            if time.monotonic() > deadline:
                raise ResizeRefused(
                    f"the consumer groups did not drain {plan.topic} within "
                    f"{drain_timeout_s:g}s (left: {left}); nothing was changed, the "
                    "connectors run again"
                )
            if time.monotonic() - said >= 2:
                progress("draining: " + ", ".join(f"{g} {n} record(s) to go" for g, n in left.items()))
                said = time.monotonic()
            time.sleep(0.5)
        progress(f"every group has committed {plan.topic} to its end; adding partitions")
        futures = admin.create_partitions([NewPartitions(plan.topic, plan.wanted)], request_timeout=30)
        futures[plan.topic].result(timeout=60)
        while len(partitions_of(admin, [plan.topic])) < plan.wanted:
            time.sleep(0.2)
        progress(f"{plan.topic} has {plan.wanted} partitions")
    finally:
        committed.close()
        for name in plan.connectors:
            connect.resume(name)
            progress(f"{name}: resumed")
    return time.monotonic() - paused_at


@dataclass
class Skew:
    topic: str
    records: dict[int, int]  # partition -> records it holds now
    sampled: int
    keys: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.records.values())

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
    """Records per partition, and the keys of the newest ``sample_per_partition`` of each."""
    reader = Consumer(consumer_config(bootstrap_servers, f"skew-{uuid.uuid4()}"))
    try:
        partitions = partitions_of(reader, [topic])
        if not partitions:
            raise ResizeRefused(f"no topic {topic}")
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
            found.keys[(message.key() or b"").decode(errors="replace")] += 1
            found.sampled += 1
            _topic, partition, offset = position(message)
            if offset >= bounds[partition][1] - 1:
                remaining.discard(partition)
            for tp in reader.position([TopicPartition(topic, p) for p in list(remaining)]):
                if tp.offset >= bounds[tp.partition][1]:
                    remaining.discard(tp.partition)
        return found
    except KafkaException as exc:
        raise ResizeRefused(f"{topic}: {exc.args[0]}") from exc
    finally:
        reader.close()

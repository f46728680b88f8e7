"""Adding partitions to a keyed topic without breaking any key's order.

A group's consumers scale to the partition count of what they read: past it, the extra ones
idle. More partitions fix that, but a key's partition is ``murmur2(key) % partitions``: after
the change a key's new records may land on another partition than its old ones, and a consumer
could read the new before the old. :func:`resize` prevents that: it stops the writers (the
connectors, paused), waits until every consumer group reading the topic has committed to its
end, adds the partitions, and lets the writers go on. Every record written before the change
has then been handled by every group before any record after it exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka.admin import NewPartitions  # type: ignore[attr-defined]

from outboxkit.base.errors import OutboxKitError
from outboxkit.cdc.connect_client import ConnectClient
from outboxkit.kafka.clients import CommittedOffsets, admin_client, partitions_of
from outboxkit.kafka.partitioning import group_backlog, groups_reading

Progress = Callable[[str], None]


class ResizeRefused(OutboxKitError):
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

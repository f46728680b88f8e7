"""Faults of a Kafka cluster and a Connect group, and how long each stalled the pipeline.

What a failure test of the cluster needs to know and do: which broker leads the most partitions
of the flow's topics, which node is the active KRaft controller, which Connect worker runs the
most tasks; kill one (SIGKILL) and start it again; and a :class:`PartitionWatch` that says how
long after a kill records flowed again through the partitions (or connectors) it hit.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

from devstack.components.base import Component
from devstack.components.connect import Connect
from devstack.components.jvm import java_command, write_properties
from devstack.components.kafka import SCRAM_LOGIN, Kafka
from devstack.errors import StackError
from devstack.java import system_java
from devstack.stack import Stack
from outboxkit.ops import ConnectClient, Record, admin_client, consumer_config, flow_topics

_QUIET = logging.getLogger("devstack.partition-watch")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def leaders(bootstrap_servers: str, topics: Iterable[str] | None = None) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the node id of its leader now (of the flow's topics unless ``topics``)."""
    topics = flow_topics() if topics is None else topics
    admin = admin_client(bootstrap_servers)
    metadata = admin.list_topics(timeout=15)
    return {
        (topic, p.id): p.leader
        for topic in topics
        if topic in metadata.topics
        for p in metadata.topics[topic].partitions.values()
    }


def busiest_leader(
    bootstrap_servers: str, topics: Iterable[str] | None = None
) -> tuple[int, list[tuple[str, int]]]:
    """The node that leads the most partitions of ``topics``, and those partitions."""
    by_node: dict[int, list[tuple[str, int]]] = {}
    for partition, node in leaders(bootstrap_servers, topics).items():
        by_node.setdefault(node, []).append(partition)
    node = max(by_node, key=lambda n: len(by_node[n]))
    return node, sorted(by_node[node])


def active_controller(stack: Stack) -> int:
    """The node id of the KRaft quorum's leader (the active controller), asked with Kafka's own
    ``kafka-metadata-quorum`` tool: a client's metadata does not say which node it is."""
    java, _ = system_java()
    login = stack.kafka.client_security()
    command_config = stack.paths.root / "kafka-admin-client.properties"
    if login:  # a Java client's login, as admin, in a file only root reads
        write_properties(
            command_config,
            {
                "security.protocol": login["security.protocol"],
                "sasl.mechanism": login["sasl.mechanism"],
                "sasl.jaas.config": f'{SCRAM_LOGIN} required username="{login["sasl.username"]}" '
                f'password="{login["sasl.password"]}";',
            },
            "the stack's admin login",
        )
        command_config.chmod(0o600)
    argv = java_command(
        java,
        "256m",
        {"log4j2.configurationFile": str(stack.kafka.log4j2_file)},
        [
            "-cp",
            f"{stack.ctx.installed.kafka_libs}/*",
            "org.apache.kafka.tools.MetadataQuorumCommand",
            "--bootstrap-server",
            stack.topology.bootstrap_servers,
            *(["--command-config", str(command_config)] if login else []),
            "describe",
            "--status",
        ],
    )
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    found = re.search(r"^LeaderId:\s+(\d+)", result.stdout, re.M)
    if result.returncode != 0 or found is None:
        raise StackError(
            f"kafka-metadata-quorum did not name a leader: {result.stdout[-500:]}{result.stderr[-500:]}"
        )
    return int(found.group(1))


def busiest_worker(stack: Stack, connect_url: str) -> tuple[Connect, list[str]]:
    """The Connect worker running the most connector tasks, and those connectors."""
    client = ConnectClient(connect_url)
    by_worker: dict[str, list[str]] = {}
    for name in client.connectors():
        state = client.state(name)
        for worker_id in state.task_workers if state else []:
            by_worker.setdefault(worker_id, []).append(name)
    if not by_worker:
        raise StackError("no connector task runs on any worker")
    worker_id = max(by_worker, key=lambda w: len(by_worker[w]))
    port = int(worker_id.rsplit(":", 1)[1])
    worker = next(w for w in stack.workers if w.port == port)
    return worker, sorted(set(by_worker[worker_id]))


def broker(stack: Stack, node: int) -> Kafka:
    return stack.brokers[node - 1]


def kill(component: Component) -> float:
    """SIGKILL a part and wait until it is gone; returns the monotonic time of the kill."""
    pid = component.process.running_pid()
    if pid is None:
        raise StackError(f"{component.name} is not running")
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + 60
    while component.process.running_pid() is not None or component.port_conflicts():
        if time.monotonic() > deadline:
            raise StackError(f"{component.name} did not die")
        time.sleep(0.1)
    return killed


@dataclass
class PartitionWatch:
    """Reads the flow's topics from their end on, and remembers when each partition last got a
    record: the pipeline's stall after a fault is how long the partitions it hit stayed silent."""

    bootstrap_servers: str
    topics: tuple[str, ...] = field(default_factory=flow_topics)
    arrivals: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> PartitionWatch:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name="partition-watch")
        self._thread.start()
        if not ready.wait(60):
            raise StackError("the partition watch could not start reading the flow's topics")
        return self

    def _run(self, ready: threading.Event) -> None:
        # Its client's complaints while brokers die are expected: the faults say what happened.
        reader = Consumer(
            consumer_config(self.bootstrap_servers, f"partition-watch-{uuid.uuid4()}", logger=_QUIET)
        )
        metadata = reader.list_topics(timeout=30).topics
        starts = []
        for topic in self.topics:
            for partition in metadata[topic].partitions if topic in metadata else []:
                _low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
                starts.append(TopicPartition(topic, partition, high))
        reader.assign(starts)
        ready.set()
        try:
            while not self._stop.is_set():
                message = reader.poll(0.2)
                if message is not None and message.error() is None:
                    record = Record.of(message)
                    self.arrivals.setdefault((record.topic, record.partition), []).append(time.monotonic())
        finally:
            reader.close()

    def first_after(self, moment: float, partitions: Iterable[tuple[str, int]] | None = None) -> float | None:
        """The first arrival after ``moment`` on any of ``partitions`` (all of them if None)."""
        wanted = set(partitions) if partitions is not None else set(self.arrivals)
        later = [t for key in wanted for t in self.arrivals.get(key, []) if t > moment]
        return min(later) if later else None

    def stall(
        self, moment: float, partitions: Iterable[tuple[str, int]] | None = None, timeout_s: float = 120.0
    ) -> float | None:
        """Seconds from ``moment`` to the first record on ``partitions`` after it (waiting for it
        up to ``timeout_s``); None when none came."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            first = self.first_after(moment, partitions)
            if first is not None:
                return first - moment
            time.sleep(0.2)
        return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def partitions_of(bootstrap_servers: str, topics: Iterable[str]) -> list[tuple[str, int]]:
    return sorted(key for key in leaders(bootstrap_servers, topics))

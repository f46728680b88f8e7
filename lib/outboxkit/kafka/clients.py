"""Kafka adapter: client configurations and topic administration (confluent-kafka)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # type: ignore[attr-defined]

from outboxkit.base.errors import OutboxKitError
from outboxkit.base.settings import Settings
from outboxkit.base.topics import DEFAULT_PARTITIONS
from outboxkit.kafka.records import Record

log = logging.getLogger(__name__)


class RepeatSuppressingFilter(logging.Filter):
    """Passes a message once per ``window_s``: librdkafka repeats "Connect to ... failed" on every
    reconnect attempt, which would bury the one line that says the broker is unavailable."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = re.sub(r"\d+(ms)?", "#", record.getMessage())  # timestamps, offsets, durations
        now = time.monotonic()
        if now - self._last.get(text, -self.window_s) < self.window_s:
            return False
        self._last[text] = now
        return True


# librdkafka's own log, through Python logging (instead of straight to stderr), repeats suppressed.
CLIENT_LOG = logging.getLogger("librdkafka")
CLIENT_LOG.addFilter(RepeatSuppressingFilter())


_identity: dict[str, str] | None = None


def client_security() -> dict[str, str]:
    """How this process's Kafka clients authenticate: from the settings (KAFKA_SECURITY_PROTOCOL,
    KAFKA_USERNAME, ...), unless :func:`use_identity` chose a principal of its own."""
    global _identity
    if _identity is None:
        _identity = Settings.load().kafka_security
    return _identity


def use_identity(username: str, password: str) -> None:
    """Every Kafka client this process creates from now on logs in as ``username`` (a service
    as its own principal: it may read its inputs and write only its own DLQ and retry topics)."""
    global _identity
    base = client_security()
    if base.get("security.protocol", "PLAINTEXT").startswith("SASL"):
        _identity = {**base, "sasl.username": username, "sasl.password": password}


def password_key(principal: str) -> str:
    """Where a Kafka principal's password is set: KAFKA_PASSWORD for the default identity of every
    tool (``admin`` on the stack's cluster), else <PRINCIPAL>_KAFKA_PASSWORD (a service's group)."""
    if principal == "admin":
        return "KAFKA_PASSWORD"
    return f"{principal.upper().replace('-', '_')}_KAFKA_PASSWORD"


def admin_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap_servers, "logger": CLIENT_LOG, **client_security(), **overrides}


def admin_client(bootstrap_servers: str, **overrides: Any) -> AdminClient:
    """A Kafka admin client for ``bootstrap_servers`` with the settings' security, ``overrides``
    on top."""
    return AdminClient(admin_config(bootstrap_servers, **overrides))


class TopicReadError(OutboxKitError, RuntimeError):
    """A topic could not be read to its end: it does not exist, or the reading stalled."""


def consumer_config(bootstrap_servers: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer that never commits on its own: offsets are stored after the work commits."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # Range assigns each topic's partitions evenly across the group. Cooperative-sticky
        # balances the partition *count* only: with a second instance of a service it gave one
        # member all of the service's input topic and the other all of its retry topic (0.1%
        # CPU), so the second instance added nothing (measured with bench_saga.py --instances).
        "partition.assignment.strategy": "range",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 2000,
        "max.poll.interval.ms": 300000,
        "logger": CLIENT_LOG,
        **client_security(),
    }
    config.update(overrides)
    return config


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    """An idempotent producer with acks=all (used for the dead-letter topic)."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        # The Java clients (Connect, hence Debezium) hash keys with murmur2; librdkafka's
        # default differs, and a record re-sent with another hash would land on another
        # partition than its aggregate's earlier events, breaking per-key order.
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "logger": CLIENT_LOG,
        **client_security(),
    }
    config.update(overrides)
    return config


def cluster_metadata(client: Consumer | AdminClient, timeout_s: float, topic: str | None = None) -> Any:
    """The cluster's metadata (``list_topics``), asked in half-second waits: Ctrl-C ends the wait
    at once (a long wait inside the client does not let it through), and it gives up with the
    client's KafkaException after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            return client.list_topics(topic, timeout=max(0.05, min(0.5, remaining)))
        except KafkaException:
            if remaining <= 0.5:
                raise


def partitions_of(
    client: Consumer | AdminClient, topics: Iterable[str], timeout_s: float = 10.0
) -> list[TopicPartition]:
    """Every partition of ``topics`` as the cluster has them now (a resized topic has more than
    it was created with); a topic that does not exist has none."""
    metadata = cluster_metadata(client, timeout_s).topics
    return [
        TopicPartition(topic, partition)
        for topic in topics
        if topic in metadata
        for partition in sorted(metadata[topic].partitions)
    ]


class CommittedOffsets:
    """Other consumer groups' committed offsets, read through a consumer handle of each group that
    never joins it (no subscription, nothing committed).

    ``AdminClient.list_consumer_group_offsets`` would do the same, but librdkafka 2.16 crashes the
    whole process when a group's coordinator moves while it asks (NOT_COORDINATOR makes it queue
    a coordinator lookup on the admin handle's consumer group, which is NULL: librdkafka PR
    #5318). A consumer handle has a consumer group, so the same answer is safe there.
    """

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap = bootstrap_servers
        self._readers: dict[str, Consumer] = {}

    def of(
        self, group: str, partitions: list[TopicPartition], timeout_s: float = 10.0
    ) -> list[TopicPartition]:
        """``group``'s committed offset of each partition (offset < 0: nothing committed)."""
        if not partitions:
            return []
        return self._reader(group).committed(partitions, timeout=timeout_s)

    def of_topics(self, group: str, topics: Iterable[str], timeout_s: float = 10.0) -> list[TopicPartition]:
        """``group``'s committed offset of every partition ``topics`` have now."""
        reader = self._reader(group)
        return self.of(group, partitions_of(reader, list(topics), timeout_s), timeout_s)

    def _reader(self, group: str) -> Consumer:
        reader = self._readers.get(group)
        if reader is None:
            reader = self._readers[group] = Consumer(consumer_config(self._bootstrap, group))
        return reader

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

    def __enter__(self) -> CommittedOffsets:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    partitions: int = DEFAULT_PARTITIONS,
    config: dict[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (same shape Connect would give them); returns
    the ones this call created."""
    admin = admin_client(bootstrap_servers)
    existing = set(cluster_metadata(admin, 15).topics)
    missing = [t for t in topics if t not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=partitions, replication_factor=-1, config=config or {}) for t in missing]
    )
    created = []
    for topic, future in futures.items():
        try:
            future.result()
            log.info("created topic %s with %d partitions", topic, partitions)
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    return created


def fetch_batch(consumer: Consumer, max_messages: int, timeout_s: float) -> list[Message]:
    """Wait up to ``timeout_s`` for the first record, then take what is already buffered.

    ``Consumer.consume(n, timeout)`` waits for the whole timeout unless n records arrive, which
    would add up to ``timeout_s`` of latency to every hop of a quiet flow.
    """
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    if max_messages <= 1:
        return [first]
    return [first, *consumer.consume(max_messages - 1, 0)]


def read_to_current_end(consumer: Consumer, topic: str, timeout_s: float = 15.0) -> Iterator[Record]:
    """Every record ``topic`` holds when the call starts, by partition offset order.

    Records written after the start are not read, so a caller that writes back into the
    same topic cannot loop. ``consumer`` is assigned the partitions (no group join, nothing
    committed by this function).
    """
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise TopicReadError(f"topic {topic} does not exist")
    ends: dict[int, int] = {}
    starts = []
    for partition in metadata.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
        if high > low:
            ends[partition] = high
            starts.append(TopicPartition(topic, partition, low))
    log.info("%s holds %d record(s) to read", topic, sum(ends[tp.partition] - tp.offset for tp in starts))
    if not starts:
        return
    consumer.assign(starts)
    unfinished = set(ends)
    while unfinished:
        message = consumer.poll(timeout_s)
        if message is not None and not message.error():
            record = Record.of(message)
            if record.offset < ends[record.partition]:
                yield record
        # Positions, not the last offset seen: transaction markers occupy offsets no poll returns.
        positions = consumer.position([TopicPartition(topic, p) for p in unfinished])
        unfinished -= {tp.partition for tp in positions if tp.offset >= ends[tp.partition]}
        if message is None and unfinished:
            raise TopicReadError(f"reading {topic} stalled; partitions {sorted(unfinished)} unfinished")


# Connect publishes exactly-once: each transaction ends with a commit marker, an offset that holds
# no record. A topic's newest record is therefore somewhat before its end offset, not at end - 1.
TAIL_OFFSETS = 20


def record_timestamps(
    consumer: Consumer, starts: list[TopicPartition], first_only: bool = False, timeout_s: float = 3.0
) -> dict[tuple[str, int], list[float]]:
    """The timestamps (epoch seconds) of the records from each start to its partition's end as
    the call finds it; only the first record's with ``first_only``. A partition with nothing but
    transaction markers left gives none, without waiting out ``timeout_s``. ``consumer`` is
    assigned the partitions for the call (no group join, nothing committed)."""
    ends: dict[tuple[str, int], int] = {}
    for tp in starts:
        _, high = consumer.get_watermark_offsets(
            TopicPartition(tp.topic, tp.partition), timeout=timeout_s, cached=False
        )
        if tp.offset < high:
            ends[(tp.topic, tp.partition)] = high
    read: dict[tuple[str, int], list[float]] = {}
    if not ends:
        return read
    consumer.assign([tp for tp in starts if (tp.topic, tp.partition) in ends])
    unfinished = set(ends)
    deadline = time.monotonic() + timeout_s
    try:
        while unfinished and time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None and message.error() is None:
                record = Record.of(message)
                key = (record.topic, record.partition)
                if key in unfinished and record.offset < ends[key]:
                    read.setdefault(key, []).append(record.timestamp_ms / 1000)
                    if first_only:
                        unfinished.discard(key)
            # Positions, not the last offset seen: markers occupy offsets no poll returns.
            positions = consumer.position([TopicPartition(topic, p) for topic, p in unfinished])
            unfinished -= {
                (tp.topic, tp.partition) for tp in positions if tp.offset >= ends[(tp.topic, tp.partition)]
            }
    finally:
        consumer.unassign()
    return read


def newest_timestamps(consumer: Consumer, topics: Iterable[str], timeout_s: float = 3.0) -> dict[str, float]:
    """The timestamp (epoch seconds) of the newest record on each of ``topics``; topics that do
    not exist or hold no record are left out."""
    tails = []
    for tp in partitions_of(consumer, list(topics), timeout_s):
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
        if high > low:
            tails.append(TopicPartition(tp.topic, tp.partition, max(low, high - TAIL_OFFSETS)))
    newest: dict[str, float] = {}
    for (topic, _), stamps in record_timestamps(consumer, tails, timeout_s=timeout_s).items():
        newest[topic] = max(newest.get(topic, 0.0), *stamps)
    return newest


def group_member_count(bootstrap_servers: str, group_id: str) -> int:
    """How many consumers are in ``group_id`` now (0 for a group that never existed)."""
    admin = admin_client(bootstrap_servers)
    future = admin.describe_consumer_groups([group_id])[group_id]
    try:
        return len(future.result(timeout=15).members)
    except KafkaException as exc:
        if exc.args[0].name() == "GROUP_ID_NOT_FOUND":
            return 0
        raise


def forget_group_offsets(bootstrap_servers: str, group_id: str) -> None:
    """Delete an empty consumer group, and so its committed offsets: it starts again from the
    beginning of its topics (``auto.offset.reset=earliest``)."""
    admin = admin_client(bootstrap_servers)
    future = admin.delete_consumer_groups([group_id], request_timeout=15)[group_id]
    try:
        future.result(timeout=20)
    except KafkaException as exc:
        if exc.args[0].name() != "GROUP_ID_NOT_FOUND":
            raise


def watermarks(
    bootstrap_servers: str, partitions: list[TopicPartition]
) -> dict[tuple[str, int], tuple[int, int]]:
    """Each partition's (first offset, offset after its last record) now, in two requests."""
    admin = admin_client(bootstrap_servers)

    def offsets(spec: OffsetSpec) -> dict[tuple[str, int], int]:
        futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=10)
        return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}

    lows, highs = offsets(OffsetSpec.earliest()), offsets(OffsetSpec.latest())  # type: ignore[no-untyped-call]
    return {key: (lows[key], highs[key]) for key in highs}

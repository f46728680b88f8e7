"""Exactly what was published: a connector's outbox rows against the records on their topics.

Every outbox row is an event (or command) a service promised to publish. The router puts the
row's id in each record's ``id`` header, so the audit is a comparison by event id, for the rows
that occurred in a window:

- **missing**: a row with no record on its topic (a lost event);
- **duplicated**: a row with more than one record (Connect re-sends what it published after its
  last offset flush when it is killed; a recovery republishes; consumers' inboxes absorb them);
- **out of order**: an aggregate whose events first appeared on the topic in another order than
  their versions (a consumer's version guard would then drop the older one);
- **keyed wrong**: a record whose key is not its row's aggregate id (it may sit on another
  partition than the aggregate's other events, and so lose their order).

Rows committed a moment ago may still be on their way: the audit keeps reading the topics for
up to ``wait_s`` while some rows are missing.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from confluent_kafka import Consumer, TopicPartition

from outboxkit.base.clock import utc_now
from outboxkit.base.topics import HEADER_AGGREGATE_VERSION, HEADER_EVENT_ID, topic_for
from outboxkit.cdc.connectors import ConnectorDefinition
from outboxkit.cdc.preflight import server_connection
from outboxkit.cdc.recovery import Database
from outboxkit.kafka.clients import consumer_config
from outboxkit.kafka.records import Record

# A record's timestamp is when Connect produced it, after its row's occurred_at: start reading a
# little before the window so that clock differences cannot hide a record.
READ_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class OutboxRow:
    id: str
    topic: str
    key: str
    event_type: str
    version: int
    occurred_at: datetime

    def describe(self) -> str:
        return (
            f"{self.id} {self.event_type} v{self.version} key={self.key} on {self.topic}, "
            f"occurred {self.occurred_at:%Y-%m-%d %H:%M:%S.%f} UTC"
        )


@dataclass(frozen=True)
class Published:
    """One record on a topic, as far as the audit cares."""

    event_id: str
    key: str
    version: int | None
    partition: int
    offset: int


@dataclass
class PublicationAudit:
    connector: str
    since: datetime
    until: datetime
    rows: list[OutboxRow]
    missing: list[OutboxRow] = field(default_factory=list)
    duplicated: dict[str, int] = field(default_factory=dict)  # event id -> records of it
    out_of_order: list[str] = field(default_factory=list)
    miskeyed: list[str] = field(default_factory=list)
    records_read: int = 0

    @property
    def complete(self) -> bool:
        return not self.missing and not self.out_of_order and not self.miskeyed

    def summary(self) -> str:
        extra = sum(n - 1 for n in self.duplicated.values())
        return (
            f"{self.connector}: {len(self.rows)} outbox row(s) from {self.since:%Y-%m-%d %H:%M:%S} to "
            f"{self.until:%Y-%m-%d %H:%M:%S} UTC; {len(self.missing)} missing, "
            f"{len(self.duplicated)} published more than once ({extra} extra record(s)), "
            f"{len(self.out_of_order)} aggregate(s) out of order, {len(self.miskeyed)} keyed wrong; "
            f"{self.records_read} record(s) read"
        )


def compare(audit: PublicationAudit, published: dict[str, list[Published]]) -> PublicationAudit:
    """Fill ``audit``'s findings from the records read per topic (pure)."""
    wanted = {row.id: row for row in audit.rows}
    audit.miskeyed = []
    counts: Counter[str] = Counter()
    first_seen: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    for topic, records in published.items():
        for record in records:
            row = wanted.get(record.event_id)
            if row is None or row.topic != topic:
                continue
            counts[record.event_id] += 1
            if record.key != row.key:
                audit.miskeyed.append(
                    f"{record.event_id} on {topic}[{record.partition}]@{record.offset}: key "
                    f"{record.key!r}, its aggregate is {row.key!r}"
                )
            if counts[record.event_id] == 1:
                first_seen[(topic, row.key)].append((record.partition, record.offset, row.version))
    audit.missing = [row for row in audit.rows if counts[row.id] == 0]
    audit.duplicated = {event_id: n for event_id, n in counts.items() if n > 1}
    audit.out_of_order = []
    for (topic, key), seen in sorted(first_seen.items()):
        versions = [version for _p, _o, version in sorted(seen)]
        if any(later <= earlier for earlier, later in pairwise(versions)):
            audit.out_of_order.append(f"{topic} key={key}: versions appeared as {versions}")
    return audit


def outbox_rows(
    database: Database, definition: ConnectorDefinition, since: datetime, until: datetime
) -> list[OutboxRow]:
    """The rows of every outbox the connector publishes that occurred in [since, until)."""
    rows: list[OutboxRow] = []
    with server_connection(
        database.host, database.port, definition.database_user, database.password
    ) as connection:
        for table in definition.outboxes:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, aggregatetype, aggregateid, type, aggregate_version, occurred_at "
                    f"FROM {table} WHERE occurred_at >= %s AND occurred_at < %s ORDER BY occurred_at",
                    (since, until),
                )
                rows += [
                    OutboxRow(str(r[0]), topic_for(str(r[1])), str(r[2]), str(r[3]), int(r[4]), r[5])
                    for r in cursor.fetchall()
                ]
    return sorted(rows, key=lambda row: row.occurred_at)


class TopicScanner:
    """Reads some topics from a time on, round after round, each round up to their current end."""

    def __init__(self, bootstrap_servers: str, topics: Iterable[str], since: datetime) -> None:
        self._consumer = Consumer(consumer_config(bootstrap_servers, f"cdc-verify-{uuid.uuid4()}"))
        self.records: dict[str, list[Published]] = {}
        starts: list[TopicPartition] = []
        millis = int(since.replace(tzinfo=UTC).timestamp() * 1000)
        for topic in topics:
            self.records[topic] = []
            metadata = self._consumer.list_topics(topic, timeout=15).topics.get(topic)
            if metadata is None or metadata.error is not None:
                continue  # nothing was ever published there: every row for it is missing
            wanted = [TopicPartition(topic, p, millis) for p in metadata.partitions]
            for found in self._consumer.offsets_for_times(wanted, timeout=15):
                if found.offset >= 0:
                    starts.append(found)
                else:  # no record since then: start at the end, to see what arrives
                    _low, high = self._consumer.get_watermark_offsets(found, timeout=15)
                    starts.append(TopicPartition(topic, found.partition, high))
        self._partitions = starts
        self._next = {(tp.topic, tp.partition): tp.offset for tp in starts}
        if starts:
            self._consumer.assign(starts)

    def read_to_end(self, timeout_s: float = 15.0) -> int:
        """Everything up to each partition's end now; returns how many records this round read."""
        ends = {
            (tp.topic, tp.partition): self._consumer.get_watermark_offsets(tp, 15, False)[1]
            for tp in self._partitions
        }
        read = 0
        deadline = time.monotonic() + timeout_s
        while not self._at(ends):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"reading {', '.join(self.records)} to the end took more than {timeout_s:.0f}s"
                )
            message = self._consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            record = Record.of(message)
            self._next[(record.topic, record.partition)] = record.offset + 1
            headers = record.headers
            if HEADER_EVENT_ID not in headers:
                continue
            version = headers.get(HEADER_AGGREGATE_VERSION)
            self.records[record.topic].append(
                Published(
                    headers[HEADER_EVENT_ID],
                    record.key or "",
                    int(version) if version else None,
                    record.partition,
                    record.offset,
                )
            )
            read += 1
        return read

    def _at(self, ends: dict[tuple[str, int], int]) -> bool:
        # The consumer's position also counts transaction markers, which no poll returns.
        for tp in self._consumer.position(self._partitions) if self._partitions else []:
            key = (tp.topic, tp.partition)
            if max(self._next[key], tp.offset) < ends[key]:
                return False
        return True

    def close(self) -> None:
        self._consumer.close()


def verify_publication(
    definition: ConnectorDefinition,
    database: Database,
    bootstrap_servers: str,
    since: datetime,
    until: datetime | None = None,
    wait_s: float = 30.0,
    topics: Iterable[str] = (),
) -> PublicationAudit:
    """Audit the rows that occurred in [since, until) (until: now). ``topics`` adds topics to read
    beyond those the rows name."""
    until = until or utc_now()
    rows = outbox_rows(database, definition, since, until)
    audit = PublicationAudit(definition.name, since, until, rows)
    read = sorted({r.topic for r in rows} | set(topics))
    scanner = TopicScanner(bootstrap_servers, read, since - READ_MARGIN)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            audit.records_read += scanner.read_to_end()
            compare(audit, scanner.records)
            if not audit.missing or time.monotonic() >= deadline:
                return audit
            time.sleep(1.0)
    finally:
        scanner.close()

"""Reading topics from outside the services, to inspect them: decoded through the registry.

:class:`EventTap` reads from the beginning with a throwaway consumer group and never commits,
so it cannot disturb the services; the ``outboxkit replay`` command, the demo and the tests use it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from outboxkit.base.errors import NotFoundError
from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.settings import Settings
from outboxkit.kafka.clients import cluster_metadata, consumer_config, fetch_batch
from outboxkit.kafka.records import Record, decode
from outboxkit.serialization.avro import AvroEventDeserializer, SchemaCatalog, UndecodableRecordError
from outboxkit.serialization.schema_registry import (
    RegistryUnavailableError,
    SchemaRegistryClient,
    SchemaRegistryError,
)


class EventTap:
    """Collects every decoded event of some topics, from their beginning (or from the first
    record written at or after ``since``, or from ``from_offset``), of every partition or only of
    ``partitions``."""

    def __init__(
        self,
        topics: Iterable[str],
        settings: Settings | None = None,
        catalog: SchemaCatalog | None = None,
        must_exist: bool = False,
        since: datetime | None = None,
        partitions: Iterable[int] | None = None,
        from_offset: int | None = None,
        key: str | None = None,
        keep: bool = True,
        timeout_s: float = 15.0,
    ) -> None:
        """``catalog``: the reader schemas to decode with (None: each record's writer schema);
        ``key``: only records with this key are decoded (the others are passed over unread,
        which is what makes a key's history quick to find in a long topic); ``keep``: remember
        every event in :attr:`events` (a command that prints and forgets passes False, so a
        topic of millions of records does not fill its memory); ``timeout_s``: how long the
        broker may take to answer at the start (KafkaException after that)."""
        settings = settings or Settings.load()
        self.key = key
        self.keep = keep
        self.topics = list(topics)
        self._consumer = Consumer(
            consumer_config(
                settings.kafka_bootstrap_servers,
                f"replay-{uuid.uuid4()}",
                **{"enable.partition.eof": True},
            )
        )
        try:
            known = cluster_metadata(self._consumer, timeout_s).topics
        except BaseException:
            self._consumer.close()
            raise
        missing = [t for t in self.topics if t not in known]
        if missing and must_exist:
            self._consumer.close()
            raise NotFoundError(
                f"no such topic: {', '.join(missing)} (topics: "
                f"{', '.join(sorted(t for t in known if not t.startswith('_')))})"
            )
        if partitions is not None or from_offset is not None:
            # Chosen partitions, or a chosen offset: assigned directly, no group to join.
            wanted = sorted(set(partitions)) if partitions is not None else None
            chosen = []
            for topic in self.topics:
                existing = sorted(known[topic].partitions) if topic in known else []
                outside = [p for p in wanted or [] if p not in existing]
                if outside:
                    self._consumer.close()
                    raise NotFoundError(
                        f"{topic} has no partition {', '.join(map(str, outside))} "
                        f"(it has {len(existing)}: 0-{len(existing) - 1})"
                    )
                chosen += [TopicPartition(topic, p) for p in (wanted if wanted is not None else existing)]
            if from_offset is not None:
                # Kept inside each partition: an offset out of range would make the client restart
                # from the beginning (auto.offset.reset), not from where it was asked.
                starts = []
                for tp in chosen:
                    low, high = self._consumer.get_watermark_offsets(tp, timeout=15)
                    starts.append(TopicPartition(tp.topic, tp.partition, min(max(from_offset, low), high)))
                self._consumer.assign(starts)
            elif since is not None:
                self._starting_at(since)(self._consumer, chosen)
            else:
                self._consumer.assign(
                    [TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in chosen]
                )
        elif since is None:
            self._consumer.subscribe(self.topics)
        else:
            self._consumer.subscribe(self.topics, on_assign=self._starting_at(since))
        self._deserializer = AvroEventDeserializer(
            SchemaRegistryClient(settings.schema_registry_url),
            catalog,
        )
        self.events: list[ConsumedEvent] = []
        self.undecodable: list[tuple[str, int, int, str]] = []
        self._eof: set[tuple[str, int]] = set()

    @staticmethod
    def _starting_at(since: datetime) -> Callable[[Consumer, list[TopicPartition]], None]:
        millis = int(since.timestamp() * 1000)

        def on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            # The end is read first: a partition with no record since then starts there, so a
            # record written while this runs is read, not skipped (as OFFSET_END could).
            ends = {
                (p.topic, p.partition): consumer.get_watermark_offsets(p, timeout=15)[1] for p in partitions
            }
            wanted = [TopicPartition(p.topic, p.partition, millis) for p in partitions]
            found = consumer.offsets_for_times(wanted, timeout=15)
            consumer.assign(
                [
                    TopicPartition(
                        p.topic, p.partition, p.offset if p.offset >= 0 else ends[(p.topic, p.partition)]
                    )
                    for p in found
                ]
            )

        return on_assign

    def poll(self, timeout_s: float = 0.5) -> list[ConsumedEvent]:
        """Fetch what is there now; returns the events decoded in this call."""
        fresh: list[ConsumedEvent] = []
        for message in fetch_batch(self._consumer, 500, timeout_s):
            error = message.error()
            if error is not None:
                topic, partition = message.topic(), message.partition()
                if error.code() == KafkaError._PARTITION_EOF and topic is not None and partition is not None:
                    self._eof.add((topic, partition))
                continue
            record = Record.of(message)
            self._eof.discard((record.topic, record.partition))
            if self.key is not None and record.key != self.key:
                continue
            try:
                fresh.append(decode(record, self._deserializer))
            except RegistryUnavailableError:
                raise  # an outage says nothing about the record: stop, do not list it as bad
            except (UndecodableRecordError, SchemaRegistryError) as exc:
                self.undecodable.append((record.topic, record.partition, record.offset, str(exc)))
        if self.keep:
            self.events.extend(fresh)
        return fresh

    def at_end(self) -> bool:
        assignment = self._consumer.assignment()
        return bool(assignment) and all((tp.topic, tp.partition) in self._eof for tp in assignment)

    def wait_for(
        self,
        condition: Callable[[list[ConsumedEvent]], bool],
        timeout_s: float = 60.0,
    ) -> list[ConsumedEvent]:
        """Poll until ``condition(self.events)`` holds; raises TimeoutError with what was seen."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            if condition(self.events):
                return self.events
        raise TimeoutError(
            f"condition not met within {timeout_s:.0f}s on {self.topics}: "
            f"{len(self.events)} events seen, {len(self.undecodable)} undecodable"
        )

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> EventTap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def format_event(event: ConsumedEvent, as_json: bool) -> str:
    """One line for ``event``: readable, or one JSON object (``as_json``)."""
    if as_json:
        return json.dumps(
            {
                "topic": event.topic,
                "partition": event.partition,
                "offset": event.offset,
                "key": event.key,
                "headers": event.headers,
                "value": jsonable(event.value),
            }
        )
    # The envelope is printed once, before the body: the event id, the version, the time and
    # the key (whichever field of the body holds it).
    fields = {
        k: v
        for k, v in jsonable(event.value).items()
        if k not in ("eventId", "aggregateVersion", "occurredAt") and v != event.key
    }
    return (
        f"{event.topic}[{event.partition}]@{event.offset} key={event.key} "
        f"{event.event_type} v{event.aggregate_version} id={event.event_id} "
        f"at={jsonable(event.value.get('occurredAt'))} {json.dumps(fields)}"
    )

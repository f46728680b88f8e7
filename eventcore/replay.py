"""Replay topics to inspect them: read from the beginning, decode through the registry, print.

``python -m eventcore.replay order.events [--follow] [--key ORDER_ID] [--json]``

It uses a throwaway consumer group and never commits, so it cannot disturb the services.
:class:`EventTap` is the same reader as a library, used by the demo and the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError

from eventcore.avro import AvroEventDeserializer, SchemaCatalog, UndecodableRecordError
from eventcore.kafka import consumer_config, fetch_batch
from eventcore.records import ConsumedEvent, decode
from eventcore.schema_registry import SchemaRegistryClient, SchemaRegistryError
from eventcore.settings import SCHEMAS_DIR, Settings


class EventTap:
    """Collects every decoded event of some topics, from their beginning."""

    def __init__(
        self,
        topics: Iterable[str],
        settings: Settings | None = None,
        catalog: SchemaCatalog | None = None,
        must_exist: bool = False,
    ) -> None:
        settings = settings or Settings.load()
        self.topics = list(topics)
        self._consumer = Consumer(
            consumer_config(
                settings.kafka_bootstrap_servers,
                f"replay-{uuid.uuid4()}",
                **{"enable.partition.eof": True},
            )
        )
        known = self._consumer.list_topics(timeout=15).topics
        missing = [t for t in self.topics if t not in known]
        if missing and must_exist:
            self._consumer.close()
            raise LookupError(f"no such topic: {', '.join(missing)} (topics: "
                              f"{', '.join(sorted(t for t in known if not t.startswith('_')))})")
        self._consumer.subscribe(self.topics)
        self._deserializer = AvroEventDeserializer(
            SchemaRegistryClient(settings.schema_registry_url),
            catalog if catalog is not None else SchemaCatalog.load(SCHEMAS_DIR),
        )
        self.events: list[ConsumedEvent] = []
        self.undecodable: list[tuple[str, int, int, str]] = []
        self._eof: set[tuple[str, int]] = set()

    def poll(self, timeout_s: float = 0.5) -> list[ConsumedEvent]:
        """Fetch what is there now; returns the events decoded in this call."""
        fresh: list[ConsumedEvent] = []
        for message in fetch_batch(self._consumer, 500, timeout_s):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._eof.add((message.topic(), message.partition()))
                continue
            self._eof.discard((message.topic(), message.partition()))
            try:
                fresh.append(decode(message, self._deserializer))
            except (UndecodableRecordError, SchemaRegistryError) as exc:
                self.undecodable.append(
                    (message.topic(), message.partition(), message.offset(), str(exc))
                )
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


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def format_event(event: ConsumedEvent, as_json: bool) -> str:
    if as_json:
        return json.dumps({
            "topic": event.topic, "partition": event.partition, "offset": event.offset,
            "key": event.key, "headers": event.headers, "value": _jsonable(event.value),
        })
    fields = {k: v for k, v in _jsonable(event.value).items()
              if k not in ("eventId", "orderId", "aggregateVersion", "occurredAt")}
    return (f"{event.topic}[{event.partition}]@{event.offset} key={event.key} "
            f"{event.event_type} v{event.aggregate_version} id={event.event_id} "
            f"at={_jsonable(event.value.get('occurredAt'))} {json.dumps(fields)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventcore.replay", description=__doc__)
    parser.add_argument("topics", nargs="+", help="e.g. order.events inventory.events")
    parser.add_argument("--follow", action="store_true", help="keep reading new events")
    parser.add_argument("--key", help="only events with this record key (orderId)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="give up waiting for the end of the topics after this many seconds")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    count = 0
    try:
        tap = EventTap(args.topics, must_exist=True)
    except LookupError as exc:
        parser.exit(2, f"replay: {exc}\n")
    with tap:
        while args.follow or (not tap.at_end() and time.monotonic() < deadline):
            for event in tap.poll():
                if args.key is None or event.key == args.key:
                    print(format_event(event, args.json), flush=True)
                    count += 1
            while tap.undecodable:
                topic, partition, offset, error = tap.undecodable.pop(0)
                print(f"{topic}[{partition}]@{offset} UNDECODABLE: {error}", file=sys.stderr)
    print(f"-- {count} events", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

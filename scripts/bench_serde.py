#!/usr/bin/env python3
"""Avro on the hot path, side by side: outboxkit's serializer and deserializer against
confluent-kafka's (``confluent_kafka.schema_registry.avro``), in the same process, against the
same schema registry, on the flow's own events.

Both write the Confluent wire format (magic byte, 4-byte schema id, Avro body); each call is
timed after a warm-up (schemas registered and fetched, so the registry is out of the loop: what
is left is the per-record cost a service pays). The report prints microseconds per call for
each, and checks that each side decodes what the other wrote.

    .venv/bin/python scripts/bench_serde.py [--calls 20000] [--rounds 5]

Needs the stack's schema registry (`stack up`). Run it on a quiet machine: no tests, no
second stack beside it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from confluent_kafka.schema_registry import (
    SchemaRegistryClient as ConfluentRegistry,
    topic_record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from outboxkit import Settings, topic_for
from outboxkit.cli import ArgumentParser, number_argument, run_cli
from outboxkit.ops import (
    AvroEventDeserializer,
    AvroEventSerializer,
    OutboxEvent,
    SchemaRegistryClient,
    schema_catalog,
)
from services.contracts import OrderCreated, OrderLine, PaymentCompleted, StockLine, StockReserved

ORDER = "01900000-0000-7000-8000-000000000001"
EVENTS = [
    OrderCreated(ORDER, "alice", (OrderLine("APPLE", 2, 150), OrderLine("PEAR", 1, 90)), 390, "EUR"),
    StockReserved(ORDER, (StockLine("APPLE", 2), StockLine("PEAR", 1)), 390, "EUR", customer_id="alice"),
    PaymentCompleted(ORDER, "pay-1", 390),
]


def per_call_us(call: Callable[[], object], calls: int, rounds: int) -> float:
    """The median over ``rounds`` of the mean time of one call, in microseconds."""
    for _ in range(min(calls, 1000)):
        call()
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        timings.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="bench_serde.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=number_argument(int, at_least=100, noun="a count"), default=20000)
    parser.add_argument("--rounds", type=number_argument(int, at_least=1, noun="a count"), default=5)
    args = parser.parse_args(argv)
    return run_cli("bench_serde.py", lambda: bench(int(args.calls), int(args.rounds)))


def bench(calls: int, rounds: int) -> int:
    url = Settings.load().schema_registry_url
    catalog = schema_catalog()
    ours_out = AvroEventSerializer(SchemaRegistryClient(url))
    ours_in = AvroEventDeserializer(SchemaRegistryClient(url), catalog)
    registry = ConfluentRegistry({"url": url})
    naming = {"auto.register.schemas": True, "subject.name.strategy": topic_record_subject_name_strategy}
    print(f"{calls} calls x {rounds} rounds per figure (median of the rounds), registry {url}\n")
    print(f"{'event':<18} {'':>3} {'outboxkit µs':>13} {'confluent µs':>13} {'confluent/ours':>15}")
    totals: dict[str, list[float]] = {"ours": [], "confluent": []}
    for event in EVENTS:
        schema = catalog.for_event_type(event.event_type())
        topic = topic_for(event.aggregate_type)
        record: dict[str, Any] = OutboxEvent(
            event.aggregate_type, event.aggregate_id, event.event_type(), 3, event.to_payload(),
            occurred_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        ).record()  # fmt: skip
        context = SerializationContext(topic, MessageField.VALUE)
        their_out = AvroSerializer(registry, schema.text, conf=naming)
        their_in = AvroDeserializer(registry, schema.text)
        ours_bytes = ours_out.serialize(topic, schema, record)
        their_bytes = their_out(record, context)
        assert their_bytes is not None
        # Interop, both ways: each decodes what the other wrote, to the same record.
        assert their_in(ours_bytes, context) == record, "confluent cannot read outboxkit's bytes"
        assert ours_in.deserialize(their_bytes).value == record, "outboxkit cannot read confluent's bytes"
        figures = {
            "write": (
                per_call_us(partial(ours_out.serialize, topic, schema, record), calls, rounds),
                per_call_us(partial(their_out, record, context), calls, rounds),
            ),
            "read": (
                per_call_us(partial(ours_in.deserialize, ours_bytes), calls, rounds),
                per_call_us(partial(their_in, ours_bytes, context), calls, rounds),
            ),
        }
        for what, (ours, theirs) in figures.items():
            totals["ours"].append(ours)
            totals["confluent"].append(theirs)
            print(f"{event.event_type():<18} {what:>5} {ours:>11.1f} {theirs:>13.1f} {theirs / ours:>14.2f}x")
    ours_sum, theirs_sum = sum(totals["ours"]), sum(totals["confluent"])
    print(f"\n{'all six':<18} {'':>5} {ours_sum:>11.1f} {theirs_sum:>13.1f} {theirs_sum / ours_sum:>14.2f}x")
    print("interop: each side decoded the other's bytes to the same record, for every event")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

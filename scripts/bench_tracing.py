#!/usr/bin/env python3
"""What tracing costs a consumer, per record: ``python scripts/bench_tracing.py [--records N]``.

One process runs the tracing calls a consumer makes for each record it applies (the apply's
span, which stands for its transaction; the handler's, continued from the record's
``traceparent``; the trace an emitted event carries) around an empty handler, in three rounds
of the same run: no tracing calls at all (the reference); tracing off (the default: the same
calls, no span); tracing on, exporting every span over OTLP/HTTP to
``OTEL_EXPORTER_OTLP_ENDPOINT`` (the stack's Jaeger: ``stack up --tracing``), each chunk of
records sent before the next. It prints the CPU time (every thread of the process, the
exporter's included) and the wall time per record. Nothing is asserted: the figures are for
comparison within a run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from outboxkit import Settings
from outboxkit.cli import ArgumentParser, number_argument, run_cli
from outboxkit.ops import (
    DEFAULT_OTLP_ENDPOINT,
    HEADER_CORRELATION_ID,
    HEADER_TRACEPARENT,
    ConsumedEvent,
    Trace,
    apply_span,
    child_span,
    configure_tracing,
    continued_from,
    flush_traces,
    trace_for_new_event,
    tracing_enabled,
)

GROUP = "bench-service"
CHUNK = 500


def records(count: int) -> list[ConsumedEvent]:
    flows = [Trace.start(f"order-{n}") for n in range(count)]
    return [
        ConsumedEvent(
            topic="order.events",
            partition=0,
            offset=n,
            key=flow.correlation_id,
            headers={HEADER_CORRELATION_ID: flow.correlation_id, HEADER_TRACEPARENT: flow.traceparent},
            event_id=f"event-{n}",
            event_type="OrderCreated",
            aggregate_version=1,
            value={},
            schema_id=1,
            received_at=0.0,
        )
        for n, flow in enumerate(flows)
    ]


def without_tracing(record: ConsumedEvent) -> None:
    """The reference: the handler alone."""
    handler(record)


def with_tracing(record: ConsumedEvent) -> None:
    """What the applier and the unit of work do around a handler, for one record."""
    with (
        apply_span(GROUP, [record]),
        child_span("transaction"),
        continued_from(record.headers, record.key, record.event_id, GROUP, record.event_type),
    ):
        handler(record)


def handler(record: ConsumedEvent) -> None:
    trace_for_new_event(record.key or "")  # the trace of the event it emits


def measure(name: str, each: Callable[[ConsumedEvent], None], batch: list[ConsumedEvent]) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    # In chunks, each sent before the next: as fast as this, the exporter's queue would
    # overflow and drop spans (whose export would then not be counted).
    for start in range(0, len(batch), CHUNK):
        for record in batch[start : start + CHUNK]:
            each(record)
        if tracing_enabled() and not flush_traces():
            raise RuntimeError("spans were not all sent within 30 s: is Jaeger up? (stack up --tracing)")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result = {"cpu_us": round(cpu / len(batch) * 1e6, 2), "wall_us": round(wall / len(batch) * 1e6, 2)}
    print(f"  {name:<40} CPU {result['cpu_us']:>8.2f} µs/record   wall {result['wall_us']:>8.2f} µs/record")
    return result


def bench(args: argparse.Namespace) -> int:
    batch = records(args.records)
    print(f"{args.records} records, each through the tracing calls of one apply")
    figures = {
        "reference (no tracing calls)": measure("reference (no tracing calls)", without_tracing, batch),
        "tracing off": measure("tracing off (the default)", with_tracing, batch),
    }
    settings = Settings.load()
    on = Settings({**settings.values, "TRACING": "true"})
    if not configure_tracing("bench-tracing", on):
        raise RuntimeError("tracing did not turn on")
    endpoint = on.get("OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT_OTLP_ENDPOINT)
    figures["tracing on"] = measure(f"tracing on (to {endpoint})", with_tracing, batch)
    extra = figures["tracing on"]["cpu_us"] - figures["tracing off"]["cpu_us"]
    print(f"tracing on costs {extra:.1f} µs of CPU per record applied (its spans made and exported)")
    if args.json:
        print(json.dumps(figures))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="bench_tracing.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records", type=number_argument(int, at_least=100), default=20000, help="default 20000"
    )
    parser.add_argument("--json", action="store_true", help="also the figures as one JSON line")
    args = parser.parse_args(argv)
    return run_cli("bench_tracing.py", lambda: bench(args), log_level="WARNING")


if __name__ == "__main__":
    raise SystemExit(main())

"""Correlation, causation and traceparent: carried from a consumed record into what it causes."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from outboxkit.base import tracing
from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.settings import Settings, SettingsError
from outboxkit.base.topics import HEADER_CAUSATION_ID, HEADER_CORRELATION_ID, HEADER_TRACEPARENT
from outboxkit.base.tracing import Trace, TraceLogFilter, continued_from, for_new_event

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def test_a_flows_first_event_starts_a_trace_correlated_by_its_aggregate():
    first = for_new_event("order-1")
    assert first.correlation_id == "order-1" and first.causation_id is None
    assert TRACEPARENT.match(first.traceparent)
    assert for_new_event("order-2").trace_id != first.trace_id  # two flows, two traces
    again = for_new_event("order-1")  # e.g. the command sent with the order, or its timeout
    assert again.trace_id == first.trace_id and again.span_id != first.span_id


def test_what_a_handler_emits_is_caused_by_the_record_and_stays_in_its_trace():
    first = Trace.start("order-1")
    headers = {
        HEADER_CORRELATION_ID: "order-1",
        HEADER_CAUSATION_ID: "",
        HEADER_TRACEPARENT: first.traceparent,
    }
    with continued_from(headers, "order-1", "event-A"):
        emitted = for_new_event("ignored: the running handler's flow wins")
    assert (emitted.correlation_id, emitted.causation_id) == ("order-1", "event-A")
    assert emitted.trace_id == first.trace_id
    assert emitted.span_id != first.span_id
    assert tracing.current() is None  # only while the handler runs


def test_a_record_from_before_tracing_starts_a_trace_by_its_key():
    with continued_from({}, "order-7", "event-B") as trace:
        assert (trace.correlation_id, trace.causation_id) == ("order-7", "event-B")
        assert TRACEPARENT.match(trace.traceparent)


def test_log_lines_written_while_a_handler_runs_name_the_flow_and_the_cause():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "reserved", None, None)
    TraceLogFilter().filter(record)
    assert getattr(record, "trace") == ""  # noqa: B009  (set by the filter)
    with continued_from({HEADER_CORRELATION_ID: "order-9"}, "order-9", "event-C"):
        TraceLogFilter().filter(record)
    assert getattr(record, "trace").startswith(" [flow order-9 cause event-C trace ")  # noqa: B009


# ----- tracing on: spans, with an in-memory exporter in place of OTLP ---------------------------


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def consumed(trace: Trace, event_id: str, key: str) -> ConsumedEvent:
    headers = {HEADER_CORRELATION_ID: trace.correlation_id, HEADER_TRACEPARENT: trace.traceparent}
    return ConsumedEvent(
        topic="order.events",
        partition=0,
        offset=1,
        key=key,
        headers=headers,
        event_id=event_id,
        event_type="OrderCreated",
        aggregate_version=1,
        value={},
        schema_id=1,
        received_at=0.0,
    )


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def test_a_request_its_transaction_and_the_next_services_handler_are_one_trace(spans):
    with (
        tracing.server_span("POST /orders", {}, {}),
        tracing.new_flow("order-1", key="order-1"),
        tracing.child_span("transaction"),
    ):
        written = for_new_event("order-1")
    request, transaction = by_name(spans)["POST /orders"], by_name(spans)["transaction"]
    assert parent_of(transaction) == request.context.span_id
    # The outbox row's traceparent is the transaction's span: the next service continues from it.
    assert (written.trace_id, written.span_id) == (
        f"{transaction.context.trace_id:032x}",
        f"{transaction.context.span_id:016x}",
    )
    record = consumed(written, "event-A", "order-1")
    with (
        tracing.apply_span("inventory-service", [record]),
        continued_from(record.headers, "order-1", "event-A", "inventory-service", "OrderCreated"),
    ):
        emitted = for_new_event("order-1")
    apply, handler = (
        by_name(spans)["inventory-service apply"],
        by_name(spans)["inventory-service handle OrderCreated"],
    )
    assert parent_of(apply) == transaction.context.span_id
    assert parent_of(handler) == apply.context.span_id
    assert {span.context.trace_id for span in spans.get_finished_spans()} == {request.context.trace_id}
    assert emitted.span_id == f"{handler.context.span_id:016x}" and emitted.causation_id == "event-A"
    assert handler.attributes is not None and handler.attributes["outboxkit.key"] == "order-1"


def test_a_batch_apply_links_its_records_and_each_handler_stays_in_its_records_trace(spans):
    first, second = Trace.start("order-1"), Trace.start("order-2")
    records = [consumed(first, "event-A", "order-1"), consumed(second, "event-B", "order-2")]
    with tracing.apply_span("payment-service", records):
        for record in records:
            with continued_from(
                record.headers, record.key, record.event_id, "payment-service", "StockReserved"
            ):
                pass
    finished = spans.get_finished_spans()
    apply = next(span for span in finished if span.name == "payment-service apply")
    assert {link.context.trace_id for link in apply.links} == {
        int(first.trace_id, 16),
        int(second.trace_id, 16),
    }
    handlers = [span for span in finished if span.name.endswith("handle StockReserved")]
    assert sorted(f"{span.context.trace_id:032x}" for span in handlers) == sorted(
        [first.trace_id, second.trace_id]
    )
    assert {parent_of(span) for span in handlers} == {int(first.span_id, 16), int(second.span_id, 16)}


def test_a_transaction_outside_any_span_makes_no_trace_of_its_own(spans):
    with tracing.child_span("transaction"):
        pass
    assert spans.get_finished_spans() == ()


def test_tracing_is_off_unless_asked_and_then_loads_no_sdk():
    assert tracing.configure_tracing("x", Settings({})) is False
    # A fresh interpreter: a service that runs a flow with tracing off never imports the SDK.
    probe = (
        "import sys; from outboxkit.base import tracing; from outboxkit.base.settings import Settings;"
        "tracing.configure_tracing('x', Settings({}));"
        "t = tracing.for_new_event('order-1');"
        "print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_malformed_exporter_endpoint_is_named():
    with pytest.raises(SettingsError, match=r"OTEL_EXPORTER_OTLP_ENDPOINT='127\.0\.0\.1:4318' is not"):
        tracing.configure_tracing(
            "x", Settings({"TRACING": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"})
        )


def test_a_sample_ratio_keeps_whole_flows_by_trace_id(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(SettingsError, match="TRACING_SAMPLE_RATIO"):
        tracing.configure_tracing("x", Settings({"TRACING": "true", "TRACING_SAMPLE_RATIO": "0"}))
    monkeypatch.setattr(tracing, "_tracer", None)
    assert tracing.configure_tracing("x", Settings({"TRACING": "true", "TRACING_SAMPLE_RATIO": "0.25"}))
    sampler = getattr(tracing._tracer, "sampler", None)
    assert sampler is not None and sampler.get_description() == "TraceIdRatioBased{0.25}"
    # By trace id: each record of a flow is kept (or not) the same way in every process.
    flows = [Trace.start(f"order-{n}") for n in range(400)]
    kept = [sampler.should_sample(None, int(f.trace_id, 16), "apply").decision.is_sampled() for f in flows]
    assert 50 < sum(kept) < 150  # about a quarter
    again = [sampler.should_sample(None, int(f.trace_id, 16), "handle").decision.is_sampled() for f in flows]
    assert again == kept

"""Correlation, causation and traceparent: carried from a consumed record into what it causes."""

from __future__ import annotations

import logging
import re

from eventcore.base import tracing
from eventcore.base.topics import HEADER_CAUSATION_ID, HEADER_CORRELATION_ID, HEADER_TRACEPARENT
from eventcore.base.tracing import Trace, TraceLogFilter, continued_from, for_new_event

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

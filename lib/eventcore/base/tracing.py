"""One trace through the whole flow: correlation, causation and W3C ``traceparent``.

Every outbox row carries the correlation id of the business flow it belongs to (the order's
id, say), the causation id of the event that caused it (its own id for a flow's first event) and a W3C
``traceparent`` (https://www.w3.org/TR/trace-context/): one trace id for the whole flow, a new
span id per event. The Outbox Event Router copies the three columns into record headers; the
record applier continues them into whatever a handler emits (:func:`continued_from`) and into
every log line written while the handler runs (:class:`TraceLogFilter`), so one flow's path
can be followed across the services' logs with ``grep <correlation id>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from eventcore.base.topics import HEADER_CAUSATION_ID, HEADER_CORRELATION_ID, HEADER_TRACEPARENT

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
SAMPLED = "01"


def _new_span_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Trace:
    """What an event written now carries: its flow, its cause and its place in the trace."""

    correlation_id: str
    causation_id: str | None
    trace_id: str
    span_id: str

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{SAMPLED}"

    @classmethod
    def start(cls, correlation_id: str) -> Trace:
        """An event no consumed record caused (a flow's first event, a command sent with it, a
        deadline's cancellation): the flow's trace, whose id follows from its correlation id so
        that every such event of one order lands in the same trace."""
        trace_id = hashlib.sha256(correlation_id.encode()).hexdigest()[:32]
        return cls(correlation_id, None, trace_id, _new_span_id())

    def caused_by(self, event_id: str) -> Trace:
        """What an event caused by ``event_id`` (which carried this trace) carries."""
        return Trace(self.correlation_id, event_id, self.trace_id, _new_span_id())

    @classmethod
    def of_record(cls, headers: Mapping[str, str], key: str | None) -> Trace:
        """The trace a consumed record carries; a record written before tracing existed (no
        headers) starts one, correlated by its key."""
        match = _TRACEPARENT.match(headers.get(HEADER_TRACEPARENT, ""))
        correlation_id = headers.get(HEADER_CORRELATION_ID) or key or ""
        if match is None:
            return cls.start(correlation_id)
        return cls(correlation_id, headers.get(HEADER_CAUSATION_ID), match.group(1), match.group(2))


_current: ContextVar[Trace | None] = ContextVar("eventcore_trace", default=None)


def current() -> Trace | None:
    return _current.get()


@contextlib.contextmanager
def continued_from(headers: Mapping[str, str], key: str | None, event_id: str) -> Iterator[Trace]:
    """While a handler applies the record ``event_id``: what it emits is caused by that record."""
    trace = Trace.of_record(headers, key).caused_by(event_id)
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


def for_new_event(aggregate_id: str) -> Trace:
    """The trace of an event being written now: the running handler's, or a new flow's."""
    trace = _current.get()
    return trace if trace is not None else Trace.start(aggregate_id)


class TraceLogFilter(logging.Filter):
    """Adds `` [flow <correlation id> cause <causation id>]`` to a log line written while a
    handler runs (and nothing otherwise), as ``%(trace)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace = _current.get()
        record.trace = (
            (f" [flow {trace.correlation_id} cause {trace.causation_id} trace {trace.trace_id}]")
            if trace
            else ""
        )
        return True

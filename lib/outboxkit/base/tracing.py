"""One trace through the whole flow: correlation, causation, W3C ``traceparent``, and, when
tracing is on, OpenTelemetry spans exported over OTLP.

Every outbox row carries the correlation id of the business flow it belongs to (the order's id,
say), the causation id of the event that caused it (its own id for a flow's first event) and a W3C
``traceparent`` (https://www.w3.org/TR/trace-context/). The Outbox Event Router copies the three
columns into record headers; the record applier continues them into whatever a handler emits
(:func:`continued_from`) and into every log line written while the handler runs
(:class:`TraceLogFilter`), so one flow's path can be followed across the services' logs.

With tracing off (the default) nothing more happens: the trace id of a flow's first event follows
from its correlation id, a handler's events get a new span id, and no span is made (a check of
one module variable on the hot path). With ``TRACING=true`` (:func:`configure_tracing`) the same
places open spans: the request or command that writes (:func:`span`, :func:`server_span`), the
transaction that writes the outbox row (:func:`child_span`), each consumer's apply
(:func:`apply_span`) and handler (:func:`continued_from`, a child of the span that wrote the
record), and the ``traceparent`` an event carries is the span that wrote it; the spans go to
``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import logging
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as otel
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from outboxkit.base.messages import ConsumedEvent
from outboxkit.base.settings import Settings, SettingsError
from outboxkit.base.topics import HEADER_CAUSATION_ID, HEADER_CORRELATION_ID, HEADER_TRACEPARENT

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
SAMPLED = "01"
DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"
_PROPAGATOR = TraceContextTextMapPropagator()


def _new_span_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Trace:
    """What an event written now carries: its flow, its cause and its place in the trace (and,
    while a record is handled, the record's key)."""

    correlation_id: str
    causation_id: str | None
    trace_id: str
    span_id: str
    key: str | None = None

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
        return Trace(self.correlation_id, event_id, self.trace_id, _new_span_id(), self.key)

    @classmethod
    def of_record(cls, headers: Mapping[str, str], key: str | None) -> Trace:
        """The trace a consumed record carries; a record written before tracing existed (no
        headers) starts one, correlated by its key."""
        match = _TRACEPARENT.match(headers.get(HEADER_TRACEPARENT, ""))
        correlation_id = headers.get(HEADER_CORRELATION_ID) or key or ""
        if match is None:
            started = cls.start(correlation_id)
            return Trace(correlation_id, None, started.trace_id, started.span_id, key)
        return cls(correlation_id, headers.get(HEADER_CAUSATION_ID), match.group(1), match.group(2), key)

    def span_context(self) -> SpanContext:
        """This trace as a remote parent: the span that wrote the record."""
        return SpanContext(
            int(self.trace_id, 16), int(self.span_id, 16), is_remote=True, trace_flags=TraceFlags(1)
        )


_current: ContextVar[Trace | None] = ContextVar("outboxkit_trace", default=None)
# Inside a consumer's apply, whose span already stands for its one transaction.
_applying: ContextVar[bool] = ContextVar("outboxkit_applying", default=False)
_tracer: otel.Tracer | None = None  # set by configure_tracing: None means tracing is off
_provider: TracerProvider | None = None


def current() -> Trace | None:
    return _current.get()


def enabled() -> bool:
    """Whether this process exports spans (:func:`configure_tracing` turned them on)."""
    return _tracer is not None


def configure_tracing(service: str, settings: Settings) -> bool:
    """Spans for this process, named ``service``, exported over OTLP/HTTP to
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` when ``TRACING`` is true (default false); returns whether
    tracing is on. ``TRACING_SAMPLE_RATIO`` (default 1) keeps that share of the flows. The spans
    still queued are sent when the process exits."""
    global _tracer
    if not settings.get_bool("TRACING", False):
        return False
    endpoint = settings.get("OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT_OTLP_ENDPOINT).rstrip("/")
    if not endpoint.startswith(("http://", "https://")):
        raise SettingsError(f"OTEL_EXPORTER_OTLP_ENDPOINT={endpoint!r} is not an http(s) URL")
    ratio = settings.get_float("TRACING_SAMPLE_RATIO", 1.0, 0.0, 1.0, exclusive_minimum=True)
    # Only a process that traces pays for the SDK's import.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, TraceIdRatioBased

    # By trace id, not by parent: every process with the same ratio keeps the same flows whole,
    # whether or not the process that started a flow traced it.
    provider: TracerProvider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ALWAYS_ON if ratio >= 1.0 else TraceIdRatioBased(ratio),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    atexit.register(provider.shutdown)
    global _provider
    _provider = provider
    _tracer = provider.get_tracer("outboxkit")
    logging.getLogger(__name__).info(
        "tracing on: spans of %s go to %s%s",
        service,
        endpoint,
        f" (a share of {ratio:g} of the flows)" if ratio < 1.0 else "",
    )
    return True


def flush(timeout_s: float = 30.0) -> bool:
    """Send every span still queued now (tracing on); whether all went in ``timeout_s``."""
    return _provider.force_flush(int(timeout_s * 1000)) if _provider is not None else True


@contextlib.contextmanager
def span(
    name: str, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> Iterator[None]:
    """A span around the block (a request, a command, a job), the child of the current one."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {})):
        yield


@contextlib.contextmanager
def server_span(name: str, headers: Mapping[str, str], attributes: Mapping[str, Any]) -> Iterator[None]:
    """A request's span, continuing the caller's ``traceparent`` header when it sent one."""
    if _tracer is None:
        yield
        return
    parent = _PROPAGATOR.extract(dict(headers))
    with _tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=dict(attributes)
    ):
        yield


@contextlib.contextmanager
def child_span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[None]:
    """A span around the block only inside another one (a unit of work's transaction within a
    request or a command; a periodic job's transactions make no traces of their own, and an
    apply's transaction is the apply's own span)."""
    if _tracer is None or _applying.get() or not otel.get_current_span().get_span_context().is_valid:
        yield
        return
    with _tracer.start_as_current_span(name, attributes=dict(attributes or {})):
        yield


@contextlib.contextmanager
def apply_span(group: str, received: Sequence[ConsumedEvent]) -> Iterator[None]:
    """A consumer group applying records in one transaction (the span stands for it): one
    record's apply continues its trace (a child of the span that wrote it); several records'
    apply is a span of its own that links to each (one transaction, several traces)."""
    if _tracer is None:
        yield
        return
    token = _applying.set(True)
    try:
        with _apply_span(_tracer, group, received):
            yield
    finally:
        _applying.reset(token)


@contextlib.contextmanager
def _apply_span(tracer: otel.Tracer, group: str, received: Sequence[ConsumedEvent]) -> Iterator[None]:
    records = [Trace.of_record(event.headers, event.key) for event in received]
    attributes: dict[str, str | int] = {
        "messaging.consumer.group.name": group,
        "messaging.batch.message_count": len(records),
    }
    if len(records) == 1:
        parent = otel.set_span_in_context(NonRecordingSpan(records[0].span_context()))
        with tracer.start_as_current_span(
            f"{group} apply", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ):
            yield
        return
    links = [Link(record.span_context()) for record in records]
    with tracer.start_as_current_span(
        f"{group} apply", links=links, kind=SpanKind.CONSUMER, attributes=attributes
    ):
        yield


@contextlib.contextmanager
def continued_from(
    headers: Mapping[str, str],
    key: str | None,
    event_id: str,
    group: str = "",
    event_type: str = "",
) -> Iterator[Trace]:
    """While a handler of ``group`` applies the record ``event_id``: what it emits is caused by
    that record (and, tracing, it runs in a span whose parent is the span that wrote the record)."""
    received = Trace.of_record(headers, key)
    if _tracer is None:
        trace = received.caused_by(event_id)
        token = _current.set(trace)
        try:
            yield trace
        finally:
            _current.reset(token)
        return
    # Inside the apply of this record alone, the handler is the apply's child; inside a batch's
    # apply (a trace of its own), it joins the record's trace under the span that wrote it.
    applying = otel.get_current_span().get_span_context()
    parent = (
        None
        if applying.is_valid and f"{applying.trace_id:032x}" == received.trace_id
        else otel.set_span_in_context(NonRecordingSpan(received.span_context()))
    )
    attributes = {
        "outboxkit.event_type": event_type,
        "outboxkit.event_id": event_id,
        "outboxkit.key": key or "",
    }
    with _tracer.start_as_current_span(
        f"{group} handle {event_type}".strip(), context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as handling:
        context = handling.get_span_context()
        trace = Trace(
            received.correlation_id, event_id, f"{context.trace_id:032x}", f"{context.span_id:016x}", key
        )
        token = _current.set(trace)
        try:
            yield trace
        finally:
            _current.reset(token)


@contextlib.contextmanager
def new_flow(correlation_id: str, key: str | None = None) -> Iterator[Trace]:
    """A block that starts a business flow (placing an order): the events it writes and the log
    lines it writes carry the flow's correlation id and trace (tracing on: the current span's),
    and ``key``, the aggregate's, when there is one."""
    started = dataclasses.replace(Trace.start(correlation_id), key=key)
    token = _current.set(started)
    try:
        yield started
    finally:
        _current.reset(token)


def for_new_event(aggregate_id: str) -> Trace:
    """The trace of an event being written now: the running span's (tracing), the running
    handler's, or a new flow's."""
    flow = _current.get()
    if _tracer is not None:
        context = otel.get_current_span().get_span_context()
        if context.is_valid:
            return Trace(
                flow.correlation_id if flow else aggregate_id,
                flow.causation_id if flow else None,
                f"{context.trace_id:032x}",
                f"{context.span_id:016x}",
            )
    return flow if flow is not None else Trace.start(aggregate_id)


def log_fields() -> dict[str, str]:
    """What a log line written now is about: its trace and span (tracing on, or the flow's),
    the flow's correlation and causation ids and the key of the record being handled."""
    fields: dict[str, str] = {}
    flow = _current.get()
    if flow is not None:
        fields = {"trace_id": flow.trace_id, "correlation_id": flow.correlation_id}
        if flow.causation_id:
            fields["causation_id"] = flow.causation_id
        if flow.key:
            fields["key"] = flow.key
    if _tracer is not None:
        context = otel.get_current_span().get_span_context()
        if context.is_valid:
            fields["trace_id"] = f"{context.trace_id:032x}"
            fields["span_id"] = f"{context.span_id:016x}"
    return fields


class TraceLogFilter(logging.Filter):
    """Puts what a log line is about on the record: ``service`` and the :func:`log_fields` (for
    the JSON format), and `` [flow <correlation id> cause <causation id> trace <trace id>]`` as
    ``%(trace)s`` for the text format (nothing outside a flow)."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        fields = log_fields()
        if self.service:
            record.service = self.service
        for name, value in fields.items():
            setattr(record, name, value)
        flow = _current.get()
        record.trace = (
            f" [flow {flow.correlation_id} cause {flow.causation_id} trace {fields['trace_id']}]"
            if flow
            else (f" [trace {fields['trace_id']}]" if "trace_id" in fields else "")
        )
        return True

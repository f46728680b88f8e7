"""Prometheus metrics of one consumer process, served next to ``/health`` as ``GET /metrics``.

The counters are the consumer's own (:class:`~outboxkit.consuming.consumer.Counters`), read when scraped,
so the stats line in the log and the metrics can never disagree. Lag is per partition, from the
last records handled; commit-to-apply latency is a histogram of how long an event took from the
transaction that wrote it (its ``occurredAt``) to the transaction that applied it here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import fields
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from outboxkit.base.messages import ConsumedEvent

# From a healthy pipeline's tens of milliseconds to an outage's minutes.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, float("inf"))

PartitionLag = Mapping[tuple[str, int], int]


class _CountersCollector(Collector):
    def __init__(self, group_id: str, counters: object, lag: Callable[[], PartitionLag]) -> None:
        self._group_id = group_id
        self._counters = counters
        self._lag = lag

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        records = CounterMetricFamily(
            "outboxkit_records",
            "Records handled by the consumer group, by outcome (processed = applied; "
            "duplicates = seen before, by the inbox; stale = older than the aggregate's version; "
            "refused = applied, but the aggregate's guard was closed)",
            labels=["group", "outcome"],
        )
        for field in fields(self._counters):  # type: ignore[arg-type]
            if field.name in ("lag", "batches", "batches_split", "outages"):
                continue
            records.add_metric([self._group_id, field.name], getattr(self._counters, field.name))
        yield records
        outages = CounterMetricFamily("outboxkit_outages", "Dependency outages waited out", labels=["group"])
        outages.add_metric([self._group_id], self._counters.outages)  # type: ignore[attr-defined]
        yield outages
        lag = GaugeMetricFamily(
            "outboxkit_consumer_lag_records",
            "Records not yet handled, per partition the process owns",
            labels=["group", "topic", "partition"],
        )
        for (topic, partition), behind in sorted(self._lag().items()):
            lag.add_metric([self._group_id, topic, str(partition)], behind)
        yield lag


class ConsumerMetrics:
    """The metrics of one consumer group's process, in a registry of its own."""

    def __init__(self, group_id: str, counters: object, lag: Callable[[], PartitionLag]) -> None:
        self.group_id = group_id
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.registry.register(_CountersCollector(group_id, counters, lag))
        self._latency = Histogram(
            "outboxkit_commit_to_apply_seconds",
            "From the transaction that wrote an event (occurredAt) to the one that applied it",
            ["group", "topic"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def applied(self, event: ConsumedEvent, now: float) -> None:
        occurred = event.value.get("occurredAt")
        if occurred is not None:
            seconds = max(0.0, now - occurred.timestamp())
            self._latency.labels(self.group_id, event.topic).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class CdcCollector(Collector):
    """Each connector's streaming state and binlog headroom (:mod:`outboxkit.cdc.status`), read at
    scrape time and kept for ``cache_s`` (a report reads Connect, Kafka and the database)."""

    def __init__(self, reports: Callable[[], list[Any]], cache_s: float = 5.0) -> None:
        self._reports = reports
        self._cache_s = cache_s
        self._cached: tuple[float, list[Any]] = (-cache_s, [])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        taken, reports = self._cached
        if time.monotonic() - taken >= self._cache_s:
            try:
                reports = self._reports()
            except Exception:  # a scrape never fails: the gauges are simply absent this time
                reports = []
            self._cached = (time.monotonic(), reports)
        streaming = GaugeMetricFamily(
            "outboxkit_cdc_streaming",
            "1 while the connector's task runs and its heartbeats are fresh",
            labels=["connector"],
        )
        headroom = GaugeMetricFamily(
            "outboxkit_cdc_binlog_headroom_seconds",
            "How long the connector's committed binlog position "
            "is safe from the server's binlog retention (absent: no limit or unknown; 0: purged)",
            labels=["connector"],
        )
        purged = GaugeMetricFamily(
            "outboxkit_cdc_binlog_position_purged",
            "1 when the connector's binlog position was purged (`outboxkit cdc recover`)",
            labels=["connector"],
        )
        for report in reports:
            streaming.add_metric([report.name], 1.0 if report.is_streaming else 0.0)
            if report.headroom.seconds_left is not None:
                headroom.add_metric([report.name], report.headroom.seconds_left)
            purged.add_metric([report.name], 1.0 if report.headroom.verdict == "purged" else 0.0)
        yield streaming
        yield headroom
        yield purged

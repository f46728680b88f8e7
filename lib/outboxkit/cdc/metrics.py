"""Debezium's own streaming metrics, as Kafka Connect's workers publish them for Prometheus.

Each worker runs the Prometheus JMX exporter (a Java agent) with ``stack/connect-metrics.yaml``'s
rules, which turn Debezium's MBeans (``debezium.<plugin>:type=connector-metrics,
context=streaming,server=<topic.prefix>``) into ``debezium_<attribute>{server=...}`` gauges and
each connector's state into ``kafka_connect_connector_status{connector, status}``. This module
reads those pages (``CONNECT_METRICS_URLS``) into one figure set per connector: how far behind the
binlog it is, its queue, the events it has seen, whether it is connected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families

from outboxkit.base.failures import DependencyUnavailableError


@dataclass(frozen=True)
class StreamingMetrics:
    """One connector's streaming figures, as its worker reports them now."""

    server: str  # the connector's topic.prefix: its outbox's database
    behind_source_ms: float | None
    queue_remaining: float | None
    queue_total: float | None
    events_seen: float | None
    connected: bool | None

    def as_json(self) -> dict[str, object]:
        return {
            "behindSourceMs": self.behind_source_ms,
            "queueRemainingCapacity": self.queue_remaining,
            "queueTotalCapacity": self.queue_total,
            "eventsSeen": self.events_seen,
            "connected": self.connected,
        }


def parse(text: str) -> tuple[dict[str, StreamingMetrics], dict[str, str]]:
    """A worker's metrics page: the streaming figures by server, and each connector's state."""
    figures: dict[str, dict[str, float]] = {}
    states: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "kafka_connect_connector_status" and sample.value == 1:
                states[labels["connector"].strip('"')] = labels["status"]
            elif sample.name.startswith("debezium_") and labels.get("context") == "streaming":
                figures.setdefault(labels["server"], {})[sample.name.removeprefix("debezium_")] = sample.value
    metrics = {
        server: StreamingMetrics(
            server,
            values.get("millisecondsbehindsource"),
            values.get("queueremainingcapacity"),
            values.get("queuetotalcapacity"),
            values.get("totalnumberofeventsseen"),
            bool(values["connected"]) if "connected" in values else None,
        )
        for server, values in figures.items()
    }
    return metrics, states


def read_worker_metrics(
    urls: Iterable[str], timeout_s: float = 3.0
) -> tuple[dict[str, StreamingMetrics], dict[str, str]]:
    """Every worker's page, merged (a connector's task runs on one of them). Raises
    DependencyUnavailableError when no worker answers."""
    metrics: dict[str, StreamingMetrics] = {}
    states: dict[str, str] = {}
    failures = []
    for url in urls:
        try:
            response = requests.get(url, timeout=timeout_s)
            response.raise_for_status()
        except requests.RequestException as exc:
            failures.append(f"{url}: {type(exc).__name__}")
            continue
        found, found_states = parse(response.text)
        metrics.update(found)
        states.update(found_states)
    if failures and not metrics and not states:
        raise DependencyUnavailableError("Kafka Connect's metrics", "; ".join(failures))
    return metrics, states


def by_connector(
    metrics: Mapping[str, StreamingMetrics], servers: Mapping[str, str]
) -> dict[str, StreamingMetrics]:
    """The figures per connector name, given each connector's server (its topic.prefix)."""
    return {name: metrics[server] for name, server in servers.items() if server in metrics}

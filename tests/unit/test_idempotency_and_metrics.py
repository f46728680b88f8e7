"""Idempotency keys' pure parts, and the Prometheus text every consumer process serves."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from outboxkit.consuming.consumer import Counters
from outboxkit.consuming.health import Health, HealthEndpoint
from outboxkit.consuming.metrics import ConsumerMetrics
from outboxkit.storage.idempotency import InvalidIdempotencyKeyError, fingerprint, valid_key


def test_the_fingerprint_ignores_field_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


@pytest.mark.parametrize("key", ["", "has space", "é", "x" * 256])
def test_a_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(InvalidIdempotencyKeyError, match="Idempotency-Key must be"):
        valid_key(key)


@dataclass
class FakeEvent:
    topic: str
    value: dict[str, object]


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_the_metrics_read_the_consumers_counters_lag_and_latency() -> None:
    counters = Counters(processed=7, duplicates=2, stale=1, dead_lettered=3)
    metrics = ConsumerMetrics("g", counters, lambda: {("order.events", 4): 12})
    now = datetime.now(UTC)
    metrics.applied(
        FakeEvent("order.events", {"occurredAt": now - timedelta(seconds=0.3)}),  # type: ignore[arg-type]
        now.timestamp(),
    )
    found = samples(metrics.text())
    processed = ("outboxkit_records_total", (("group", "g"), ("outcome", "processed")))
    assert found[processed] == 7
    assert found[("outboxkit_records_total", (("group", "g"), ("outcome", "duplicates")))] == 2
    assert found[("outboxkit_records_total", (("group", "g"), ("outcome", "dead_lettered")))] == 3
    assert (
        found[
            (
                "outboxkit_consumer_lag_records",
                (("group", "g"), ("partition", "4"), ("topic", "order.events")),
            )
        ]
        == 12
    )
    latency = (("group", "g"), ("le", "0.5"), ("topic", "order.events"))
    assert found[("outboxkit_commit_to_apply_seconds_bucket", latency)] == 1
    assert (
        found[
            (
                "outboxkit_commit_to_apply_seconds_bucket",
                (("group", "g"), ("le", "0.25"), ("topic", "order.events")),
            )
        ]
        == 0
    )
    counters.processed += 1  # read when scraped, never copied
    assert samples(metrics.text())[processed] == 8


def test_the_health_endpoint_serves_the_metrics_too() -> None:
    metrics = ConsumerMetrics("g", Counters(processed=1), dict)
    endpoint = HealthEndpoint(Health("g"), metrics=metrics.registry).start()
    try:
        with urllib.request.urlopen(endpoint.url.replace("/health", "/metrics"), timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert ("outboxkit_records_total", (("group", "g"), ("outcome", "processed"))) in samples(
                response.read()
            )
    finally:
        endpoint.stop()

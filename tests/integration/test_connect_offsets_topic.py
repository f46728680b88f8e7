"""register_connectors.py keeps Kafka Connect's offsets topic compactable: its segments roll at
least hourly, so the log cleaner can bring it down to about one record per connector (it grew
to 1.8 million records in five days of a one-second offset flush and heartbeat)."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]  # re-exported without __all__

from outboxkit.base.settings import Settings
from outboxkit.cdc.offsets import DEFAULT_OFFSETS_TOPIC, OFFSETS_SEGMENT_MS
from outboxkit.kafka.clients import admin_client

pytestmark = pytest.mark.stack


def test_the_offsets_topic_rolls_its_segments_at_least_hourly(settings: Settings, connectors: None) -> None:
    admin = admin_client(settings.kafka_bootstrap_servers)
    resource = ConfigResource(ConfigResource.Type.TOPIC, DEFAULT_OFFSETS_TOPIC)
    config = admin.describe_configs([resource])[resource].result(timeout=15)
    assert int(config["segment.ms"].value) <= OFFSETS_SEGMENT_MS
    assert config["cleanup.policy"].value == "compact"

"""The saga's measure of how far behind the pipeline is, on topics written exactly-once (as
Connect writes them): every transaction ends with a commit marker, an offset with no record."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from outboxkit.kafka.clients import consumer_config, ensure_topics, newest_timestamps, producer_config
from outboxkit.kafka.lag import HEARTBEAT_GRACE_S, Hop, PipelineLag

pytestmark = pytest.mark.stack


def transactional_records(bootstrap: str, topic: str, stamps_ms: list[int]) -> None:
    producer = Producer(producer_config(bootstrap, **{"transactional.id": f"lag-test-{uuid.uuid4()}"}))
    producer.init_transactions(30)
    for stamp in stamps_ms:
        producer.begin_transaction()
        producer.produce(topic, key=b"k", value=b"v", partition=0, timestamp=stamp)
        producer.commit_transaction(30)


def test_a_silent_heartbeat_topic_written_exactly_once_counts_as_cdc_lag(settings):
    bootstrap = settings.kafka_bootstrap_servers
    topic = f"lag-test-heartbeat-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], partitions=1)
    last_beat = time.time() - 60
    transactional_records(bootstrap, topic, [int((last_beat - 1) * 1000), int(last_beat * 1000)])
    lag = PipelineLag(bootstrap, [], [topic])
    try:
        # The newest record sits before the final commit marker: found, and a minute old.
        reader = Consumer(consumer_config(bootstrap, f"lag-test-{uuid.uuid4()}"))
        assert newest_timestamps(reader, [topic]) == {topic: pytest.approx(last_beat, abs=0.01)}
        reader.close()
        assert lag.seconds() == pytest.approx(60, abs=5)
    finally:
        lag.close()


def test_a_fresh_heartbeat_is_no_lag_and_a_waiting_record_is(settings):
    bootstrap = settings.kafka_bootstrap_servers
    beats, queue = (f"lag-test-{name}-{uuid.uuid4().hex[:8]}" for name in ("beats", "queue"))
    ensure_topics(bootstrap, [beats, queue], partitions=1)
    transactional_records(bootstrap, beats, [int(time.time() * 1000)])
    lag = PipelineLag(bootstrap, [Hop(f"lag-test-{uuid.uuid4().hex[:8]}", queue)], [beats])
    try:
        assert lag.seconds() < HEARTBEAT_GRACE_S  # nothing waits; the heartbeat is fresh
        queued_at = time.time() - 30
        transactional_records(bootstrap, queue, [int(queued_at * 1000)])
        # The group never committed: its first record waits, 30 s old.
        assert lag.seconds() == pytest.approx(30, abs=5)
    finally:
        lag.close()

"""How far CDC has got, read from outside the connector: is it streaming, and what has it published.

- :func:`published_through`: the connector's committed offset carries the binlog time of the
  last event it handled (``ts_sec``); every outbox row that occurred well before that has been
  published. Pruning relies on it.
- :func:`check_streaming`: a task can say RUNNING while its binlog reader is disconnected. The
  connector writes a heartbeat record every ``heartbeat.interval.ms`` while it reads the binlog;
  a heartbeat older than a bound means CDC is not streaming, whatever the REST status says.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, KafkaException

from outboxkit.base.errors import OutboxKitError
from outboxkit.cdc.connect_client import ConnectClient, ConnectError, ConnectorState
from outboxkit.kafka.clients import consumer_config, newest_timestamps

# ts_sec has one-second resolution on MariaDB, is the server's clock while occurred_at is the
# application's, and an outbox row is stamped before its transaction commits: a minute covers
# all three for any transaction that is not pathologically long.
PUBLISHED_SAFETY_MARGIN = timedelta(seconds=60)
DEFAULT_HEARTBEAT_PREFIX = "__debezium-heartbeat"
# Heartbeats come every 2 s (outbox_connector.json); 15 s without one is no blip.
DEFAULT_STALE_AFTER_S = 15.0


class CdcProgressUnknown(OutboxKitError, RuntimeError):
    """What the connector has published cannot be established."""


def published_through(client: ConnectClient, connector: str) -> datetime:
    """A time before which every committed outbox row has been published (naive UTC)."""
    try:
        offsets = client.offsets(connector)
    except ConnectError as exc:
        raise CdcProgressUnknown(f"cannot read the committed offset of {connector}: {exc}") from exc
    if any(o.get("snapshot") not in (None, False, "false") for o in offsets):
        raise CdcProgressUnknown(
            f"{connector} is taking a snapshot (`outboxkit cdc recover`?): what it published is "
            "known again once it streams"
        )
    seconds = [int(o["ts_sec"]) for o in offsets if str(o.get("ts_sec", "")).isdigit()]
    if not seconds:
        raise CdcProgressUnknown(f"{connector} has not committed any binlog position yet")
    last = datetime.fromtimestamp(max(seconds), UTC).replace(tzinfo=None)
    return last - PUBLISHED_SAFETY_MARGIN


def heartbeat_topic(config: dict[str, str]) -> str | None:
    """Where a Debezium connector with ``config`` writes its heartbeats (None: it writes none)."""
    if int(config.get("heartbeat.interval.ms", "0") or 0) <= 0 or "topic.prefix" not in config:
        return None
    prefix = config.get("topic.heartbeat.prefix", DEFAULT_HEARTBEAT_PREFIX)
    return f"{prefix}.{config['topic.prefix']}"


def last_heartbeat(bootstrap_servers: str, topic: str, timeout_s: float = 10.0) -> datetime | None:
    """The timestamp of the newest record in ``topic`` (None if it has none or does not exist)."""
    reader = Consumer(
        consumer_config(bootstrap_servers, f"cdc-probe-{uuid.uuid4()}", **{"fetch.wait.max.ms": 50})
    )
    try:
        newest = newest_timestamps(reader, [topic], timeout_s).get(topic)
        return None if newest is None else datetime.fromtimestamp(newest, UTC)
    finally:
        reader.close()


@dataclass(frozen=True)
class StreamingState:
    name: str
    state: ConnectorState | None
    heartbeat_age_s: float | None
    stale_after_s: float
    has_heartbeats: bool = True

    @property
    def streaming(self) -> bool:
        return (
            self.state is not None
            and self.state.running
            and self.heartbeat_age_s is not None
            and self.heartbeat_age_s <= self.stale_after_s
        )

    def describe(self) -> str:
        if self.state is None:
            return f"{self.name}: not registered (register-connectors)"
        status = f"connector {self.state.connector_state}, tasks [{', '.join(self.state.task_states) or '-'}]"
        if not self.has_heartbeats:
            beat = "no heartbeats configured (heartbeat.interval.ms), so streaming cannot be told"
        elif self.heartbeat_age_s is None:
            beat = "no heartbeat yet"
        else:
            beat = f"last heartbeat {self.heartbeat_age_s:.1f}s ago"
        if self.streaming:
            verdict = "streaming"
        elif self.state.running:
            verdict = (
                f"NOT STREAMING: the task says RUNNING but no heartbeat for more than "
                f"{self.stale_after_s:.0f}s (binlog reader disconnected?)"
            )
        else:
            verdict = "NOT STREAMING"
        return f"{self.name}: {status}; {beat}: {verdict}"


def check_streaming(
    client: ConnectClient,
    bootstrap_servers: str,
    names: list[str] | None = None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
) -> list[StreamingState]:
    """Each registered connector (or each of ``names``): its REST state and heartbeat age."""
    states = []
    now = datetime.now(UTC)
    for name in names if names is not None else client.connectors():
        state = client.state(name)
        topic = heartbeat_topic(client.config(name)) if state is not None else None
        try:
            beat = last_heartbeat(bootstrap_servers, topic) if topic else None
        except KafkaException:
            beat = None
        age = None if beat is None else max(0.0, (now - beat).total_seconds())
        states.append(StreamingState(name, state, age, stale_after_s, topic is not None))
    return states

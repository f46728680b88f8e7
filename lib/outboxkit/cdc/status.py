"""Is each connector streaming, and how long can its binlog position wait: one report for every
front door (``outboxkit cdc status``, ``outboxkit register-connectors --status``, a service API's
``/health``, ``/ops`` and ``/metrics``).

It works with Kafka Connect down too: the connector names then come from
the roster and the offsets from Connect's offsets topic, so a stopped Connect
still gets its binlog headroom counted down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from outboxkit.base.settings import Settings
from outboxkit.cdc.binlog import BinlogPosition, Headroom, ServerBinlog, assess, read_server_binlog
from outboxkit.cdc.connect_client import ConnectClient, ConnectUnavailableError
from outboxkit.cdc.connectors import ConnectorDefinition
from outboxkit.cdc.offsets import DEFAULT_OFFSETS_TOPIC, CommittedOffset, offsets_from_topic
from outboxkit.cdc.preflight import server_connection
from outboxkit.cdc.progress import (
    DEFAULT_STALE_AFTER_S,
    StreamingState,
    check_streaming,
    heartbeat_topic,
    last_heartbeat,
)

DEFAULT_CDC_USER = "cdc"


@dataclass(frozen=True)
class ConnectorReport:
    name: str
    streaming: StreamingState | None  # None: Kafka Connect did not answer
    position: BinlogPosition | None
    headroom: Headroom
    offset_source: str  # "connect", or the offsets topic read while Connect was down

    @property
    def is_streaming(self) -> bool:
        return self.streaming is not None and self.streaming.streaming

    @property
    def healthy(self) -> bool:
        return self.is_streaming and self.headroom.verdict in ("ok", "unknown")

    def lines(self) -> list[str]:
        first = (
            self.streaming.describe()
            if self.streaming is not None
            else f"{self.name}: Kafka Connect does not answer: NOT STREAMING"
        )
        second = f"binlog {self.headroom.verdict.upper()}: {self.headroom.detail}"
        if self.offset_source not in ("connect", "-"):
            second += f" (offset read from {self.offset_source})"
        return [first, second]

    def as_json(self) -> dict[str, Any]:
        state = self.streaming.state if self.streaming is not None else None
        return {
            "name": self.name,
            "streaming": self.is_streaming,
            "state": state.connector_state if state else None,
            "tasks": state.task_states if state else [],
            "heartbeatAgeSeconds": None if self.streaming is None else self.streaming.heartbeat_age_s,
            "binlog": {
                "verdict": self.headroom.verdict,
                "secondsLeft": self.headroom.seconds_left,
                "detail": self.headroom.detail,
                "file": self.position.file if self.position else None,
                "pos": self.position.pos if self.position else None,
                "gtids": self.position.gtids if self.position else None,
                "handledAt": self.position.handled_at.isoformat()
                if self.position and self.position.handled_at
                else None,
            },
            "healthy": self.healthy,
        }


def binlog_warn_below_s(settings: Settings) -> float | None:
    """CDC_BINLOG_WARN_S: warn when a position has less than this left (default: half the
    server's binlog retention)."""
    raw = settings.values.get("CDC_BINLOG_WARN_S")
    return None if not raw else settings.get_float("CDC_BINLOG_WARN_S", 0.0, 0.0, exclusive_minimum=True)


def read_binlog_of(settings: Settings, user: str = DEFAULT_CDC_USER) -> ServerBinlog:
    with server_connection(settings.db_host, settings.db_port, user, settings.get("CDC_DB_PASSWORD")) as c:
        return read_server_binlog(c)


def report_connectors(
    settings: Settings,
    definitions: Sequence[ConnectorDefinition],
    names: list[str] | None = None,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
    warn_below_s: float | None = None,
    connect_timeout_s: float = 10.0,
) -> list[ConnectorReport]:
    """One report per registered connector (or per name given); ``definitions`` are the outbox
    connectors that should run (the roster's), for what Connect cannot say while it is down."""
    client = ConnectClient(settings.connect_url, timeout_s=connect_timeout_s)
    by_name = {d.name: d for d in definitions}
    now = datetime.now(UTC)
    streaming: dict[str, StreamingState | None]
    committed: dict[str, CommittedOffset]
    alive: dict[str, datetime | None] = {}
    try:
        states = check_streaming(client, settings.kafka_bootstrap_servers, names, stale_after_s)
        streaming = {s.name: s for s in states}
        committed = {}
        for state in states:
            if state.state is not None:
                stored = client.offsets(state.name)
                committed[state.name] = CommittedOffset(
                    state.name, stored[0] if stored and stored[0] else None, "connect"
                )
            if state.heartbeat_age_s is not None:
                alive[state.name] = now - timedelta(seconds=state.heartbeat_age_s)
    except ConnectUnavailableError:
        wanted = names if names is not None else sorted(by_name)
        streaming = dict.fromkeys(wanted)
        topic = settings.get("CONNECT_OFFSETS_TOPIC", DEFAULT_OFFSETS_TOPIC)
        committed = offsets_from_topic(settings.kafka_bootstrap_servers, topic)
        for name in wanted:
            found = committed.get(name)
            heartbeats = heartbeat_topic(by_name[name].config) if name in by_name else None
            beat = last_heartbeat(settings.kafka_bootstrap_servers, heartbeats) if heartbeats else None
            alive[name] = max((t for t in (beat, found.committed_at if found else None) if t), default=None)
    users = {d.database_user for d in definitions} or {DEFAULT_CDC_USER}
    server: ServerBinlog | None = None
    unreadable = ""
    try:
        server = read_binlog_of(settings, sorted(users)[0])
    except (ConnectionError, OSError) as exc:
        unreadable = f"the database's binlog cannot be read ({exc})"
    warn_below = warn_below_s if warn_below_s is not None else binlog_warn_below_s(settings)
    reports = []
    for name, streaming_state in streaming.items():
        offset = committed.get(name)
        position = BinlogPosition.from_offset(offset.offset if offset else None)
        if server is None:
            headroom = Headroom("unknown", None, unreadable)
        elif streaming_state is not None and streaming_state.state is None:
            headroom = Headroom("unknown", None, "not registered")
        else:
            running = streaming_state is not None and streaming_state.streaming
            headroom = assess(position, server, running, warn_below, name, alive.get(name))
        source = offset.source if offset else "-"
        reports.append(ConnectorReport(name, streaming_state, position, headroom, source))
    return reports

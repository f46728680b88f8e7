"""Bring back a connector whose binlog position was purged, losing nothing, with Debezium still
the only publisher.

When the binlog a connector must resume from is gone, no restart helps (it fails with
"Could not find GTID state ... (1236)" every time). The outbox rows it did not publish are still
in the database, though: rows are pruned only behind what the connector confirmed. So:

1. **plan**: every outbox row that occurred since the connector's last committed position
   (its offset's ``ts_sec``, less the same safety margin pruning keeps) may be unpublished;
2. **stop** the connector and **forget its offsets** (Kafka Connect's ``DELETE .../offsets``);
3. start it with ``snapshot.mode=initial`` and a snapshot ``SELECT`` limited to those rows and
   **ordered by occurred_at, then version**. An initial snapshot runs before streaming starts
   and records the binlog position it was consistent with, so every row is published exactly
   once by the snapshot *or* by the binlog that follows it, and each aggregate's events leave
   in version order. Snapshot rows (``op=r``) go through the same Outbox Event Router as
   streamed inserts: same topic, key (the aggregate id), event id and headers;
4. once its committed offset is a streaming one, put the connector's normal config back.

Rows that were published before the position was lost are published again; the consumers'
inboxes and version guards absorb them. An interrupted recovery is found by its config and
resumed with the same starting time.

Tried and rejected (Debezium 3.5): an *incremental* snapshot through the signal table reads the
table in primary-key chunks (random UUIDs here) interleaved with the binlog, so a newer event
of an aggregate can overtake an older one and the version guards would then drop the older
one; a *blocking* snapshot pauses streaming but starts only when the signal is read, after
whatever the binlog held before it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outboxkit.base.errors import OutboxKitError
from outboxkit.base.settings import Settings
from outboxkit.cdc.binlog import BinlogPosition, is_purged, read_server_binlog
from outboxkit.cdc.connect_client import ConnectClient, ConnectError
from outboxkit.cdc.connectors import ConnectorDefinition
from outboxkit.cdc.preflight import server_connection
from outboxkit.cdc.progress import PUBLISHED_SAFETY_MARGIN, check_streaming

SNAPSHOT_OVERRIDES = "snapshot.select.statement.overrides"
EVERYTHING = datetime(1970, 1, 1)
_SINCE_IN_SELECT = re.compile(r"occurred_at >= '([0-9: .-]+)'")
Progress = Callable[[str], None]


class RecoveryRefused(OutboxKitError):
    """Recovery would not help, or cannot know where to start; the message says what to do."""


@dataclass(frozen=True)
class RecoveryPlan:
    connector: str
    tables: tuple[str, ...]  # each <database>.<outbox table>
    since: datetime  # naive UTC: every row that occurred at or after this is published again
    rows: int
    reason: str

    def snapshot_select(self, table: str) -> str:
        return (
            f"SELECT * FROM {table} WHERE occurred_at >= '{self.since:%Y-%m-%d %H:%M:%S.%f}' "
            "ORDER BY occurred_at, aggregate_version"
        )

    def describe(self) -> str:
        which = "" if self.since == EVERYTHING else f" that occurred since {self.since:%Y-%m-%d %H:%M:%S} UTC"
        return (
            f"{self.connector}: {self.reason}; republishing the {self.rows} row(s) of "
            f"{', '.join(self.tables)}{which} through a filtered, ordered initial snapshot, then "
            "streaming from the current binlog"
        )


@dataclass(frozen=True)
class Database:
    """How this process reaches the database as the CDC user."""

    host: str
    port: int
    password: str


def database_of(settings: Settings) -> Database:
    """The database the connectors read, as the CDC user logs in to it (the settings'
    ``DB_HOST``, ``DB_PORT`` and ``CDC_DB_PASSWORD``)."""
    return Database(settings.db_host, settings.db_port, settings.get("CDC_DB_PASSWORD"))


def recovery_config(config: dict[str, str], plan: RecoveryPlan) -> dict[str, str]:
    recovering = normal_config(config, "no_data")
    recovering.update({"snapshot.mode": "initial", SNAPSHOT_OVERRIDES: ",".join(plan.tables)})
    recovering.update({f"{SNAPSHOT_OVERRIDES}.{table}": plan.snapshot_select(table) for table in plan.tables})
    return recovering


def normal_config(config: dict[str, str], snapshot_mode: str) -> dict[str, str]:
    """``config`` without what a recovery added."""
    normal = {k: v for k, v in config.items() if not k.startswith(SNAPSHOT_OVERRIDES)}
    normal["snapshot.mode"] = snapshot_mode
    return normal


def interrupted_since(config: dict[str, str]) -> datetime | None:
    """The starting time of a recovery whose config is still in place (it was interrupted)."""
    for key, value in config.items():
        if key.startswith(f"{SNAPSHOT_OVERRIDES}."):
            match = _SINCE_IN_SELECT.search(value)
            if match:
                return datetime.fromisoformat(match.group(1))
    return None


def count_rows(connection: Any, tables: list[str], since: datetime) -> int:
    """The outbox rows of ``tables`` that occurred at or after ``since``."""
    rows = 0
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE occurred_at >= %s", (since,))
            rows += int((cursor.fetchone() or (0,))[0])
    return rows


class ConnectorRecovery:
    def __init__(
        self, client: ConnectClient, database: Database, bootstrap_servers: str, progress: Progress = print
    ) -> None:
        self.client = client
        self.database = database
        self.bootstrap_servers = bootstrap_servers
        self.say = progress

    def plan(
        self, definition: ConnectorDefinition, since: datetime | None = None, force: bool = False
    ) -> RecoveryPlan:
        name = definition.name
        config = self.client.config(name)
        offsets = self.client.offsets(name)
        position = BinlogPosition.from_offset(offsets[0] if offsets else None)
        with server_connection(
            self.database.host, self.database.port, definition.database_user, self.database.password
        ) as connection:
            server = read_server_binlog(connection)
            resumed = interrupted_since(config)
            purged = is_purged(position, server) if position is not None else None
            if not (purged or resumed or force):
                raise RecoveryRefused(
                    f"{name}'s binlog position {position.describe() if position else '-'} is still on the "
                    f"server (oldest: {server.oldest}): nothing to recover. If it failed, "
                    f"`outboxkit cdc restart {name}`; --force republishes anyway"
                )
            where = position.describe() if position else "-"
            reason = (
                f"binlog position purged ({purged})"
                if purged
                else "resuming a recovery that was interrupted"
                if resumed
                else f"forced; its position {where} is on the server"
            )
            if since is not None:
                reason += f"; from --since {since:%Y-%m-%d %H:%M:%S}"
            elif resumed is not None:
                since = resumed
            elif position is not None and position.handled_at is not None:
                since = position.handled_at.replace(tzinfo=None) - PUBLISHED_SAFETY_MARGIN
                reason += f"; its last event was handled at {position.handled_at:%Y-%m-%d %H:%M:%S} UTC"
            else:
                # Nothing says what it published (no offset, or one without ts_sec: no event handled
                # since it last started): everything the outbox still holds is republished, which
                # is safe, since rows are pruned only behind what a connector confirmed.
                since = EVERYTHING
                reason += "; no time in its offset, so the whole outbox (--since narrows it)"
            rows = count_rows(connection, definition.outboxes, since)
        return RecoveryPlan(name, tuple(definition.outboxes), since, rows, reason)

    def takeover_plan(self, definition: ConnectorDefinition, replaced: list[str]) -> RecoveryPlan:
        """The plan for a new connector that takes over the outboxes that ``replaced`` (stopped
        connectors of another layout) published: every row since the earliest position any of
        them confirmed, so nothing that one of them had not published yet is missed."""
        handled = []
        for name in replaced:
            offsets = self.client.offsets(name)
            position = BinlogPosition.from_offset(offsets[0] if offsets else None)
            handled.append(position.handled_at if position is not None else None)
        if handled and all(at is not None for at in handled):
            earliest = min(at for at in handled if at is not None)
            since = earliest.replace(tzinfo=None) - PUBLISHED_SAFETY_MARGIN
            reason = (
                f"taking over from {', '.join(replaced)}, whose earliest last event was handled at "
                f"{earliest:%Y-%m-%d %H:%M:%S} UTC"
            )
        else:
            since = EVERYTHING
            reason = f"taking over from {', '.join(replaced)}, one of which has no time in its offset"
        with server_connection(
            self.database.host, self.database.port, definition.database_user, self.database.password
        ) as connection:
            rows = count_rows(connection, definition.outboxes, since)
        return RecoveryPlan(definition.name, tuple(definition.outboxes), since, rows, reason)

    def run(
        self,
        plan: RecoveryPlan,
        snapshot_mode: str,
        timeout_s: float = 600.0,
        config: dict[str, str] | None = None,
    ) -> float:
        """Carry out ``plan``; returns how long it took. ``snapshot_mode`` is the connector's
        normal one (its definition's), put back at the end with ``config`` (default: the config
        registered now); a connector not registered yet (a takeover) is created with it."""
        started = time.monotonic()
        name = plan.connector
        exists = name in self.client.connectors()
        if config is None:
            config = {k: v for k, v in self.client.config(name).items() if k != "name"}
        if exists:
            self.say(f"{name}: stopping the connector")
            self.client.stop(name)
            self.client.wait_for_state(name, "STOPPED", 60)
            self.say(f"{name}: forgetting its committed offsets")
            self.client.reset_offsets(name)
        self.client.put_config(name, recovery_config(config, plan))
        if exists:
            self.client.resume(name)
        self.say(
            f"{name}: started with a snapshot of {plan.rows} outbox row(s) since "
            f"{plan.since:%Y-%m-%d %H:%M:%S} UTC"
        )
        self._wait_snapshot_done(name, started + timeout_s)
        self.say(f"{name}: snapshot published; its normal config goes back (snapshot.mode={snapshot_mode})")
        self.client.put_config(name, normal_config(config, snapshot_mode))
        self.client.wait_until_running(name, max(30.0, started + timeout_s - time.monotonic()))
        self._wait_streaming(name, started + timeout_s)
        took = time.monotonic() - started
        self.say(f"{name}: streaming again after {took:.1f}s")
        return took

    def _wait_snapshot_done(self, name: str, deadline: float) -> None:
        last_said = time.monotonic()
        while time.monotonic() < deadline:
            state = self.client.state(name)
            if state is not None and state.failed:
                raise ConnectError(
                    f"{name} failed during the recovery snapshot:\n"
                    + "\n".join(state.traces or ["(no trace)"])
                )
            offsets = self.client.offsets(name)
            position = BinlogPosition.from_offset(offsets[0] if offsets else None)
            if position is not None and position.snapshot is None:
                return  # a streaming offset was committed: the snapshot is behind it
            if time.monotonic() - last_said > 10:
                self.say(
                    f"{name}: snapshot still running ("
                    f"{'in progress' if position else 'nothing committed yet'})"
                )
                last_said = time.monotonic()
            time.sleep(1.0)
        raise ConnectError(
            f"{name}: the recovery snapshot did not finish in time; run `outboxkit cdc recover {name}` "
            "again to resume it"
        )

    def _wait_streaming(self, name: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            states = check_streaming(self.client, self.bootstrap_servers, [name], stale_after_s=5.0)
            if states and states[0].streaming:
                return
            time.sleep(1.0)
        raise ConnectError(f"{name} runs but writes no heartbeat: see `outboxkit cdc status {name}`")

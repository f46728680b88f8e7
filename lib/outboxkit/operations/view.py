"""The pipeline in one look, for an operator: is CDC streaming (and how long can each connector's
binlog position wait), how far behind is each consumer group, what waits in each outbox, and
which dead letters are pending, with the same re-injection as ``<service>-service dlq reinject``.

What a service is (its group, topics, database) comes from the caller: this module knows the
patterns, not the business. The order API serves it as ``/ops`` (JSON at ``/ops/state``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, Table, func, select

from outboxkit.base.clock import utc_now
from outboxkit.base.failures import DependencyUnavailableError
from outboxkit.base.settings import Settings
from outboxkit.cdc.connectors import ConnectorDefinition
from outboxkit.cdc.metrics import by_connector, read_worker_metrics
from outboxkit.cdc.status import ConnectorReport, report_connectors
from outboxkit.dead_letters.queue import DeadLetterRow, DeadLetterStore
from outboxkit.dead_letters.tools import DeadLetterTools
from outboxkit.kafka.clients import CommittedOffsets, admin_client, partitions_of, watermarks

DEAD_LETTERS_SHOWN = 50  # per group; the CLI's `dlq list` shows them all


@dataclass(frozen=True)
class OperatedGroup:
    """A consumer group and the database that holds its inbox, outbox and dead letters."""

    group: str
    topics: list[str]
    engine: Engine
    database: str
    dead_letters: Table
    outbox: Table


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def group_lag(
    admin: AdminClient, committed: CommittedOffsets, bootstrap_servers: str, group: str, topics: list[str]
) -> dict[str, Any]:
    """Records the group has not committed yet, per topic, and how many members it has now."""
    wanted = partitions_of(admin, topics)
    ends = watermarks(bootstrap_servers, wanted) if wanted else {}
    lag: dict[str, int] = dict.fromkeys(topics, 0)
    for tp in committed.of(group, wanted):
        low, high = ends[(tp.topic, tp.partition)]
        lag[tp.topic] += max(0, high - (tp.offset if tp.offset >= 0 else low))
    try:
        members = len(admin.describe_consumer_groups([group])[group].result(timeout=10).members)
    except KafkaException:
        members = 0
    return {"lag": sum(lag.values()), "topics": lag, "members": members}


def dead_letter_json(row: DeadLetterRow, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "eventId": row.event_id,
        "key": row.record_key,
        "eventType": row.event_type,
        "source": str(row.source),
        "errorClass": row.error_class,
        "error": row.error_message.splitlines()[0][:300] if row.error_message else "",
        "attempts": row.attempts,
        "parked": row.parked,
        "reinjected": row.reinjected,
        "firstFailedAt": iso(row.first_failed_at),
        "ageSeconds": round((now - row.first_failed_at).total_seconds(), 1),
    }


class OperationsView:
    """What an operator sees and may do: each connector's health, each group's lag, the outbox
    backlog and the dead letters, and the actions an operator takes on them."""

    def __init__(
        self, settings: Settings, groups: Iterable[OperatedGroup], connectors: Sequence[ConnectorDefinition]
    ) -> None:
        self.settings = settings
        self.groups = {g.group: g for g in groups}
        self.connectors = list(connectors)  # the outbox connectors that should run
        self._admin = admin_client(settings.kafka_bootstrap_servers, **{"socket.timeout.ms": 5000})
        self._committed = CommittedOffsets(settings.kafka_bootstrap_servers)

    def tools(self, group: str) -> DeadLetterTools:
        operated = self.groups[group]
        return DeadLetterTools(
            operated.engine,
            DeadLetterStore(operated.dead_letters, group),
            self.settings.kafka_bootstrap_servers,
        )

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows; a part that cannot be read says why instead."""
        now = utc_now()
        with ThreadPoolExecutor(max_workers=len(self.groups) + 1) as pool:
            connectors = pool.submit(self._connectors, now)
            groups = {name: pool.submit(self._group, operated, now) for name, operated in self.groups.items()}
            connector_states = connectors.result()
            group_states = [groups[name].result() for name in self.groups]
        troubled = any(g.get("error") or g.get("deadLetters", {}).get("pending") for g in group_states)
        healthy = all(c.get("healthy") for c in connector_states) and not troubled
        return {"at": iso(now), "connectors": connector_states, "groups": group_states, "healthy": healthy}

    def _connectors(self, now: datetime) -> list[dict[str, Any]]:
        try:
            reports = report_connectors(self.settings, self.connectors, connect_timeout_s=3.0)
        except Exception as exc:  # the page still shows the groups
            return [{"name": "(connectors)", "healthy": False, "error": f"{type(exc).__name__}: {exc}"}]
        by_name = {d.name: d.databases for d in self.connectors}
        streaming = self._streaming_metrics()
        return [
            {
                **report.as_json(),
                "outbox": self._waiting(report, by_name.get(report.name, []), now),
                "metrics": streaming.get(report.name),
            }
            for report in reports
        ]

    def _streaming_metrics(self) -> dict[str, dict[str, object]]:
        """Debezium's own figures per connector (behind source, queue, events seen), from the
        workers' metrics pages; none when they are not known or do not answer."""
        urls = self.settings.connect_metrics_urls
        if not urls:
            return {}
        try:
            found, _states = read_worker_metrics(urls)
        except DependencyUnavailableError:
            return {}
        servers = {d.name: d.server for d in self.connectors}
        return {name: figures.as_json() for name, figures in by_connector(found, servers).items()}

    def _waiting(self, report: ConnectorReport, databases: list[str], now: datetime) -> dict[str, Any]:
        """Outbox rows that occurred after the last event the connector handled: not published yet
        (summed over the databases it captures, and per database)."""
        handled = report.position.handled_at if report.position else None
        each = [self._waiting_in(database, handled, now) for database in databases]
        counted = [w for w in each if w.get("waiting") is not None]
        oldest = [w["oldestWaitingSeconds"] for w in counted if w.get("oldestWaitingSeconds") is not None]
        summary: dict[str, Any] = {
            "database": ", ".join(databases),
            "waiting": sum(w["waiting"] for w in counted) if counted and len(counted) == len(each) else None,
            "oldestWaitingSeconds": max(oldest) if oldest else None,
            "databases": each,
        }
        if handled is None:
            summary["note"] = "the connector's offset has no time"
        return summary

    def _waiting_in(self, database: str, handled: datetime | None, now: datetime) -> dict[str, Any]:
        operated = next((g for g in self.groups.values() if g.database == database), None)
        if operated is None or handled is None:
            return {"database": database, "waiting": None}
        since = handled.replace(tzinfo=None)
        occurred = operated.outbox.c.occurred_at
        try:
            with operated.engine.connect() as connection:
                waiting, oldest = connection.execute(
                    select(func.count(), func.min(occurred)).where(occurred > since)
                ).one()
        except Exception as exc:
            return {"database": database, "waiting": None, "error": f"{type(exc).__name__}: {exc}"}
        return {
            "database": database,
            "waiting": waiting,
            "oldestWaitingAt": iso(oldest),
            "oldestWaitingSeconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        }

    def _group(self, operated: OperatedGroup, now: datetime) -> dict[str, Any]:
        view: dict[str, Any] = {"group": operated.group, "database": operated.database}
        try:
            view.update(
                group_lag(
                    self._admin,
                    self._committed,
                    self.settings.kafka_bootstrap_servers,
                    operated.group,
                    operated.topics,
                )
            )
        except Exception as exc:
            view["error"] = f"Kafka: {type(exc).__name__}: {exc}"
        try:
            rows = self.tools(operated.group).pending()
            view["deadLetters"] = {
                "pending": len(rows),
                "keys": len({r.record_key for r in rows}),
                "records": [dead_letter_json(r, now) for r in rows[:DEAD_LETTERS_SHOWN]],
            }
        except Exception as exc:
            view["deadLetters"] = {"pending": None, "error": f"{type(exc).__name__}: {exc}"}
        return view

    def reinject(
        self, group: str, key: str | None = None, event_id: str | None = None, everything: bool = False
    ) -> dict[str, Any]:
        """The same selection and re-injection as ``dlq reinject --key | --event-id | --all``."""
        tools = self.tools(group)
        rows, chosen = tools.select(key=key, reference=event_id, everything=everything, whole_queue=True)
        if not rows:
            return {"group": group, "chosen": chosen, "reinjected": [], "missing": []}
        sent, missing = tools.reinject(rows)
        return {
            "group": group,
            "chosen": chosen,
            "retryTopic": tools.retry_topic,
            "reinjected": [
                {
                    "id": s.row.id,
                    "eventId": s.row.event_id,
                    "key": s.row.record_key,
                    "partition": s.partition,
                    "offset": s.offset,
                }
                for s in sent
            ],
            "missing": [{"id": r.id, "eventId": r.event_id} for r in missing],
        }

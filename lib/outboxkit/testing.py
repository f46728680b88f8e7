"""The fakes a team's own tests import: handlers unit tested without a database.

A service's fake unit of work subclasses :class:`InMemoryUnitOfWork` and puts its fake
repositories (subclasses of :class:`InMemoryRepository`) on it as attributes. Leaving a ``with``
block commits: the emitted events join :attr:`InMemoryUnitOfWork.messages`; an exception rolls
back: every repository's items are as they were when the block was entered, and its events are
dropped, as the SQL transaction would. :class:`InMemorySteps` is a participant's saga steps in
memory (the :class:`~outboxkit.sagas.steps.StepRepository` of its handler tests), and
:func:`published_record` the record Debezium's Outbox Event Router publishes for an outbox row,
for tests that feed a consumer without Kafka.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from outboxkit.base.messages import OutboxEvent
from outboxkit.base.topics import (
    HEADER_AGGREGATE_VERSION,
    HEADER_CAUSATION_ID,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_TRACEPARENT,
    topic_for,
)
from outboxkit.domain.aggregate import emit_changes
from outboxkit.domain.unit_of_work import UnitOfWork
from outboxkit.kafka.records import Record
from outboxkit.sagas.steps import CompensableStep

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
S = TypeVar("S", bound=CompensableStep)

__all__ = ["InMemoryRepository", "InMemorySteps", "InMemoryUnitOfWork", "published_record"]


class InMemoryRepository(Generic[K, V]):
    """Stored objects by key. :meth:`get` hands out a copy, as a read from a table would."""

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self.items: dict[K, V] = dict(items or {})

    def get(self, key: K) -> V | None:
        found = self.items.get(key)
        return copy.deepcopy(found)

    def put(self, key: K, value: V) -> None:
        self.items[key] = copy.deepcopy(value)


class InMemoryUnitOfWork(UnitOfWork):
    """A unit of work over :class:`InMemoryRepository` attributes, usable in many ``with`` blocks."""

    def __init__(self) -> None:
        self.messages: list[OutboxEvent] = []  # committed, in the order they were emitted
        self.commits = 0
        self.rollbacks = 0
        self._pending: list[OutboxEvent] | None = None
        self._snapshot: dict[str, dict[Any, Any]] = {}

    def _repositories(self) -> dict[str, InMemoryRepository[Any, Any]]:
        return {name: value for name, value in vars(self).items() if isinstance(value, InMemoryRepository)}

    def emit(self, event: OutboxEvent) -> None:
        if self._pending is None:
            raise RuntimeError("the unit of work is not open: use it in a with block")
        self._pending.append(event)

    def __enter__(self) -> Self:
        if self._pending is not None:
            raise RuntimeError("the unit of work is open already")
        self._pending = []
        self._snapshot = {name: copy.deepcopy(repo.items) for name, repo in self._repositories().items()}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._pending is not None
        if exc_type is None:
            self.messages.extend(self._pending)
            self.commits += 1
        else:
            for name, repo in self._repositories().items():
                repo.items = self._snapshot[name]
            self.rollbacks += 1
        self._pending = None
        self._snapshot = {}
        self.batch = ()

    def event_types(self) -> list[str]:
        """The committed events' types, in order (``["StockReserved", ...]``)."""
        return [message.event_type for message in self.messages]

    def payloads(self, event_type: str) -> list[dict[str, Any]]:
        """The committed payloads of one event type, in order."""
        return [dict(message.payload) for message in self.messages if message.event_type == event_type]


class InMemorySteps(InMemoryRepository[str, S]):
    """A participant's steps in memory: the :class:`StepRepository` of its handler tests."""

    def __init__(self, uow: UnitOfWork, new: Callable[[str], S]) -> None:
        super().__init__()
        self._uow = uow
        self._new = new

    def load(self, saga_id: str) -> S:
        return self.get(saga_id) or self._new(saga_id)

    def save(self, step: S) -> None:
        emit_changes(self._uow, step)
        step.stored_version = step.version
        self.put(step.saga_id, step)


def published_record(row: Mapping[str, Any], partition: int = 0, offset: int = 0) -> Record:
    """The record the Outbox Event Router publishes for an outbox row (as
    :meth:`~outboxkit.publishing.outbox.OutboxWriter.row` makes it): on the aggregate type's topic,
    keyed by the aggregate id, the payload untouched, the envelope in headers."""
    headers = {
        HEADER_EVENT_ID: row["id"],
        HEADER_EVENT_TYPE: row["type"],
        HEADER_AGGREGATE_VERSION: str(row["aggregate_version"]),
        HEADER_CORRELATION_ID: row.get("correlation_id"),
        HEADER_CAUSATION_ID: row.get("causation_id"),
        HEADER_TRACEPARENT: row.get("traceparent"),
    }
    return Record(
        topic_for(row["aggregatetype"]),
        partition,
        offset,
        str(row["aggregateid"]).encode(),
        row["payload"],
        tuple((name, value.encode()) for name, value in headers.items() if value is not None),
    )

"""Aggregates: the one way a state changes, its version moves and its events are made.

An aggregate's method checks its transition against the aggregate's state machine (a refused
one raises :class:`~outboxkit.domain.state_machine.TransitionRefused` before anything changed),
bumps the version by one and records the events the change causes, each with the version it
produced. A handler then saves the aggregate and hands its changes to the unit of work
(:func:`emit_changes`), which turns them into outbox rows.
"""

from __future__ import annotations

from typing import Any, ClassVar

from outboxkit.base.messages import OutboxEvent
from outboxkit.domain.events import Event
from outboxkit.domain.state_machine import StateMachine
from outboxkit.domain.unit_of_work import UnitOfWork


class Aggregate:
    """Mixin for an aggregate with ``id``, ``status`` (an enum) and ``version`` attributes."""

    state_machine: ClassVar[StateMachine[Any]]
    status: Any
    version: int

    def _transition(self, trigger: str, event: Event | None = None) -> None:
        self.status = self.state_machine.next_state(self.status, trigger)
        self.version += 1
        if event is not None:
            self._record(event)

    def _record(self, event: Event) -> None:
        """An event of the current version (the one a new aggregate is born with)."""
        self.__dict__.setdefault("_changes", []).append((self.version, event))

    def _require(self, trigger: str) -> None:
        """Refuse now what :meth:`_transition` would refuse, before any work is done for it."""
        self.state_machine.next_state(self.status, trigger)

    def pull_changes(self) -> list[tuple[int, Event]]:
        """The events caused since the last call, with the version each produced."""
        changes: list[tuple[int, Event]] = self.__dict__.pop("_changes", [])
        return changes


def emit_changes(uow: UnitOfWork, aggregate: Aggregate) -> None:
    """Outbox rows for the aggregate's new events, in the transaction that saves it."""
    for version, event in aggregate.pull_changes():
        emit(uow, event, version)


def emit(uow: UnitOfWork, event: Event, version: int) -> None:
    """An outbox row for a typed event (or command) of ``version``."""
    uow.emit(
        OutboxEvent(event.aggregate_type, event.aggregate_id, event.event_type(), version, event.to_payload())
    )

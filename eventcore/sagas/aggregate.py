"""Aggregates: the one way a state changes, its version moves and its events are made.

An aggregate's method checks its transition against the aggregate's state machine (a refused
one raises :class:`~eventcore.sagas.transitions.TransitionRefused` before anything changed), bumps the
version by one and records the events the change causes, each with the version it produced.
A handler then saves the aggregate and hands its changes to the unit of work
(:func:`emit_changes`), which turns them into outbox rows.

:class:`CompensableStep` is the participant side of a saga step that can be undone (do /
undo: reserve and release, charge and refund), written once for every participant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

from eventcore.publishing.outbox import OutboxEvent
from eventcore.sagas.transitions import StateMachine
from eventcore.serialization.events import Event
from eventcore.storage.batch_rows import BatchRows
from eventcore.storage.in_memory import InMemoryRepository
from eventcore.storage.unit_of_work import UnitOfWork


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


class StepStatus(StrEnum):
    """Where a compensable step is. NEW is never stored: it is a step with no row yet."""

    NEW = "NEW"
    DONE = "DONE"
    REFUSED = "REFUSED"
    COMPENSATED = "COMPENSATED"
    VOIDED = "VOIDED"


# Done once or refused once; undone at most once, and only if it was done; an order cancelled
# before the step ran voids it, so a late request cannot do it afterwards.
STEP_MACHINE: StateMachine[StepStatus] = StateMachine(
    [
        ([StepStatus.NEW], "Do", StepStatus.DONE),
        ([StepStatus.NEW], "Refuse", StepStatus.REFUSED),
        ([StepStatus.DONE], "Compensate", StepStatus.COMPENSATED),
        ([StepStatus.NEW], "Void", StepStatus.VOIDED),
    ]
)


@dataclass(frozen=True)
class StepLabels:
    """How a participant names the step's states in its own table (RESERVED, COMPLETED, ...)."""

    done: str
    refused: str
    compensated: str
    voided: str = "VOIDED"

    def label(self, status: StepStatus) -> str:
        return {
            StepStatus.DONE: self.done,
            StepStatus.REFUSED: self.refused,
            StepStatus.COMPENSATED: self.compensated,
            StepStatus.VOIDED: self.voided,
        }[status]

    def status(self, label: str) -> StepStatus:
        for status in (StepStatus.DONE, StepStatus.REFUSED, StepStatus.COMPENSATED, StepStatus.VOIDED):
            if self.label(status) == label:
                return status
        raise ValueError(f"unknown step state {label!r}")


@dataclass
class CompensableStep(Aggregate):
    """A participant's step for one saga instance (its id is the saga's key).

    Subclasses (dataclasses too, their own fields with defaults) set ``labels`` and call
    :meth:`_done` or :meth:`_refused` with the event each causes; :meth:`cancel` is the whole
    reaction to the saga being cancelled.
    """

    state_machine: ClassVar[StateMachine[Any]] = STEP_MACHINE
    labels: ClassVar[StepLabels]

    saga_id: str
    status: StepStatus = StepStatus.NEW
    version: int = 0
    reason: str | None = None
    stored_version: int = 0  # the version its table holds (0: no row yet)

    def expect_to_run(self) -> None:
        """Refuse a step that already ran (or was voided) before any work is done for it."""
        self._require("Do")

    def _done(self, event: Event) -> None:
        self._transition("Do", event)

    def _refused(self, event: Event, reason: str) -> None:
        self._transition("Refuse", event)
        self.reason = reason

    def cancel(self, undo: Callable[[], Event]) -> None:
        """The saga was cancelled: undo the step if it was done (``undo`` does it and returns
        the event saying so), void it if it never ran; anything else is refused."""
        if self.status is StepStatus.DONE:
            self._transition("Compensate", undo())
        else:
            self._transition("Void")
            self.reason = "order cancelled before the step ran"

    @property
    def stored_status(self) -> str:
        return self.labels.label(self.status)


def save_step(rows: BatchRows[str, Any], step: CompensableStep, values: Mapping[str, Any]) -> None:
    """Write the step's row at the commit (inserted if it had none, else updated): the row was
    locked when it was read, and the primary key refuses a second row for one saga whatever the
    messaging does."""
    step.stored_version = step.version
    rows.put(
        step.saga_id,
        step,
        {**values, "status": step.stored_status, "version": step.version, "reason": step.reason},
    )


S = TypeVar("S", bound=CompensableStep)


class StepRepository(Protocol[S]):
    """A participant's steps, on its unit of work (``uow.reservations``)."""

    def load(self, saga_id: str) -> S:
        """The saga's step (NEW when it has none yet), locked until the commit."""
        ...

    def save(self, step: S) -> None: ...


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


def compensate(steps: StepRepository[S], saga_id: str, undo: Callable[[S], Event]) -> None:
    """The participant's reaction to its saga being cancelled: undo the step if it was done
    (``undo`` writes the compensation and returns the event announcing it), void it if it
    never ran, and change nothing if it was refused, undone or voided already."""
    step = steps.load(saga_id)
    step.cancel(lambda: undo(step))
    steps.save(step)

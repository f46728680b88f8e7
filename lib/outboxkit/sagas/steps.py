"""The participant side of a saga step that can be undone (do / undo: reserve and release,
charge and refund), written once for every participant (compensation idempotent).

A step is done once or refused once; undone at most once, and only if it was done; a saga
cancelled before the step ran voids it, so a late request cannot do it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

from outboxkit.domain.aggregate import Aggregate
from outboxkit.domain.events import Event
from outboxkit.domain.state_machine import StateMachine
from outboxkit.storage.batch_rows import BatchRows


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


def compensate(steps: StepRepository[S], saga_id: str, undo: Callable[[S], Event]) -> None:
    """The participant's reaction to its saga being cancelled: undo the step if it was done
    (``undo`` writes the compensation and returns the event announcing it), void it if it
    never ran, and change nothing if it was refused, undone or voided already."""
    step = steps.load(saga_id)
    step.cancel(lambda: undo(step))
    steps.save(step)

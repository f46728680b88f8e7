"""Orchestrated sagas: the saga as an explicit table of (state, trigger) ->
reaction driven from one place, a deadline per waiting step, and its history.

A trigger the table does not list for the saga's current state is not applied but recorded as
ignored: a late reply after a deadline already cancelled the saga changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Generic, TypeVar

S = TypeVar("S", bound=Enum)


DEADLINE_PASSED = "DeadlinePassed"


@dataclass(frozen=True)
class Reaction(Generic[S]):
    """What an orchestrated saga does on a trigger in a state: where it goes, which commands it
    sends (in this order) and a label for the history."""

    next_state: S
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    trigger: str
    from_state: str
    to_state: str
    commands: tuple[str, ...]
    note: str = ""


class Orchestration(Generic[S]):
    """The transitions of an orchestrated saga as a table (state, trigger) -> reaction, and a
    deadline per waiting state. A trigger the table does not list for the current state is
    not applied: the caller records it as ignored."""

    def __init__(
        self, table: Mapping[tuple[S, str], Reaction[S]], step_timeouts: Mapping[S, timedelta]
    ) -> None:
        self.table = dict(table)
        self.step_timeouts = dict(step_timeouts)

    def react(self, state: S, trigger: str) -> Reaction[S] | None:
        return self.table.get((state, trigger))

    def deadline(self, state: S, now: datetime) -> datetime | None:
        timeout = self.step_timeouts.get(state)
        return now + timeout if timeout is not None else None

    @property
    def waiting_states(self) -> list[S]:
        return list(self.step_timeouts)


@dataclass
class SagaInstance(Generic[S]):
    """One orchestrated saga: its state, the deadline of the step it waits for, its version
    (each transition's commands carry it) and the history entries not saved yet."""

    saga_id: str
    state: S
    step_deadline: datetime | None
    version: int = 1
    stored_version: int = 0  # the version its row holds (0: no row yet)
    stored_history: int = 0  # how many history entries are stored
    new_history: list[HistoryEntry] = field(default_factory=list)

    @classmethod
    def start(
        cls, saga_id: str, orchestration: Orchestration[S], trigger: str, reaction: Reaction[S], now: datetime
    ) -> SagaInstance[S]:
        saga = cls(saga_id, reaction.next_state, orchestration.deadline(reaction.next_state, now))
        saga.new_history.append(HistoryEntry(now, trigger, "-", reaction.next_state.value, reaction.commands))
        return saga

    def handle(
        self, orchestration: Orchestration[S], trigger: str, now: datetime, note: str = ""
    ) -> Reaction[S] | None:
        """Apply ``trigger``; None (and an "ignored" history entry) when the state does not expect it.
        A deadline that is not due yet is not a trigger."""
        reaction = orchestration.react(self.state, trigger)
        if reaction is None or (trigger == DEADLINE_PASSED and not self.overdue(now)):
            self.new_history.append(
                HistoryEntry(
                    now,
                    trigger,
                    self.state.value,
                    self.state.value,
                    (),
                    f"ignored: not expected in {self.state.value}" + (f" ({note})" if note else ""),
                )
            )
            return None
        self.new_history.append(
            HistoryEntry(now, trigger, self.state.value, reaction.next_state.value, reaction.commands, note)
        )
        self.state = reaction.next_state
        self.step_deadline = orchestration.deadline(reaction.next_state, now)
        self.version += 1
        return reaction

    def overdue(self, now: datetime) -> bool:
        return self.step_deadline is not None and self.step_deadline <= now

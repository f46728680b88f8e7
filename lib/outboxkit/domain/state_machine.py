"""Guarded state machines (saga races): a state changes only through a declared
transition from the states that allow it.

A late or repeated message (a success arriving after a timeout already cancelled the order, a
second cancellation) finds its guard closed and changes nothing, so compensation cannot run
twice and a cancelled saga cannot be revived. Each aggregate declares its table of transitions;
this module only enforces it, and the consumer's dispatch (:mod:`outboxkit.consuming.dispatch`)
is where a refused transition is logged, counted and otherwise ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Generic, TypeVar

from outboxkit.base.errors import OutboxKitError

S = TypeVar("S", bound=Enum)


class TransitionRefused(OutboxKitError):
    """The current state does not allow this trigger (a late, repeated or racing message)."""

    def __init__(self, current: Enum, trigger: str) -> None:
        super().__init__(f"{trigger} is not allowed in state {current.value}")
        self.current = current
        self.trigger = trigger


class StateMachine(Generic[S]):
    def __init__(self, transitions: Iterable[tuple[Iterable[S], str, S]]) -> None:
        self._targets: dict[tuple[S, str], S] = {}
        for sources, trigger, target in transitions:
            for source in sources:
                if (source, trigger) in self._targets:
                    raise ValueError(f"{trigger} from {source} is declared twice")
                self._targets[(source, trigger)] = target

    def next_state(self, current: S, trigger: str) -> S:
        try:
            return self._targets[(current, trigger)]
        except KeyError:
            raise TransitionRefused(current, trigger) from None

    def triggers(self) -> set[str]:
        return {trigger for _state, trigger in self._targets}

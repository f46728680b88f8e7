from enum import Enum

import pytest

from outboxkit.domain.state_machine import StateMachine, TransitionRefused


class S(Enum):
    A = "A"
    B = "B"
    C = "C"


def test_declared_transitions_move_and_others_are_refused():
    machine = StateMachine([([S.A], "go", S.B), ([S.A, S.B], "stop", S.C)])
    assert machine.next_state(S.A, "go") is S.B
    assert machine.next_state(S.B, "stop") is S.C
    with pytest.raises(TransitionRefused, match="go is not allowed in state C"):
        machine.next_state(S.C, "go")
    assert machine.triggers() == {"go", "stop"}


def test_a_transition_declared_twice_is_a_bug():
    with pytest.raises(ValueError, match="declared twice"):
        StateMachine([([S.A], "go", S.B), ([S.A], "go", S.C)])

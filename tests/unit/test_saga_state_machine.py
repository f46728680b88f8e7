from enum import Enum

import pytest

from eventcore.saga import StateMachine, TransitionRefused


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


def test_a_closed_guard_can_be_a_logged_no_op(caplog):
    machine = StateMachine([([S.A], "go", S.B)])
    assert machine.next_state_or_none(S.A, "go", "thing 1: Go") is S.B
    with caplog.at_level("INFO"):
        assert machine.next_state_or_none(S.B, "go", "thing 1: Go") is None
    assert "thing 1: Go ignored: go is not allowed in state B" in caplog.text

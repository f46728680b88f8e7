"""The orchestrated order saga's table and deadlines, driven with a fake clock (no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from outboxkit.sagas.orchestration import DEADLINE_PASSED, Reaction, SagaInstance
from services.contracts import (
    ChargePayment,
    DeductPoints,
    OrderCreated,
    RefundPayment,
    ReleaseStock,
    ReserveStock,
    ReturnPoints,
    StockLine,
)
from services.order.domain import Order, OrderLine
from services.order.orchestration import (
    CANCEL_REQUESTED,
    ORDER_PLACED,
    REDEEMING_TABLE,
    START,
    TABLE,
    WAITING,
    SagaState,
    command,
    order_saga,
)

T0 = datetime(2026, 1, 1, 12, 0, 0)
SAGA = order_saga(30.0).plain
REDEEMING = order_saga(30.0).redeeming


def commands_of(reaction: Reaction[SagaState] | None) -> tuple[str, ...]:
    """The commands a trigger the saga expected sends."""
    assert reaction is not None, "the saga ignored the trigger"
    return tuple(reaction.commands)


def state_of(saga: SagaInstance[SagaState]) -> SagaState:
    return saga.state  # read afresh: each handle() moves it


def deadline_of(saga: SagaInstance[SagaState]) -> datetime | None:
    return saga.step_deadline


def started() -> SagaInstance[SagaState]:
    return SagaInstance.start("o-1", SAGA, ORDER_PLACED, START, T0)


def test_a_saga_starts_by_reserving_with_a_deadline_for_that_step():
    saga = started()
    assert (saga.state, saga.version) == (SagaState.RESERVING, 1)
    assert saga.step_deadline == T0 + timedelta(seconds=30)
    assert [(e.trigger, e.to_state, e.commands) for e in saga.new_history] == [
        (ORDER_PLACED, "RESERVING", ("ReserveStock",))
    ]


def test_the_happy_path_reserves_charges_and_completes_each_step_with_its_own_deadline():
    saga = started()
    reaction = saga.handle(SAGA, "StockReserved", T0 + timedelta(seconds=10))
    assert commands_of(reaction) == ("ChargePayment",)
    deadline = saga.step_deadline
    assert deadline == T0 + timedelta(seconds=40)  # counted from the reply, not the start
    assert commands_of(saga.handle(SAGA, "PaymentCompleted", T0 + timedelta(seconds=20))) == ()
    assert (state_of(saga), deadline_of(saga), saga.version) == (SagaState.COMPLETED, None, 3)


@pytest.mark.parametrize(
    ("replies", "compensations"),
    [
        (["StockRejected"], ()),
        (["StockReserved", "PaymentFailed"], ("ReleaseStock",)),
        ([CANCEL_REQUESTED], ("ReleaseStock",)),
        (["StockReserved", CANCEL_REQUESTED], ("RefundPayment", "ReleaseStock")),
    ],
)
def test_a_refusal_or_a_cancellation_compensates_the_completed_steps_in_reverse(replies, compensations):
    saga = started()
    for reply in replies[:-1]:
        saga.handle(SAGA, reply, T0)
    assert commands_of(saga.handle(SAGA, replies[-1], T0)) == compensations
    assert saga.state is SagaState.CANCELLED and saga.step_deadline is None


def test_a_deadline_not_yet_due_changes_nothing_and_a_due_one_compensates():
    saga = started()
    saga.handle(SAGA, "StockReserved", T0)
    assert saga.handle(SAGA, DEADLINE_PASSED, T0 + timedelta(seconds=29)) is None
    assert saga.state is SagaState.CHARGING and saga.new_history[-1].note.startswith("ignored")
    reaction = saga.handle(SAGA, DEADLINE_PASSED, T0 + timedelta(seconds=30))
    assert commands_of(reaction) == ("RefundPayment", "ReleaseStock")  # refund (maybe void) first, then stock
    assert state_of(saga) is SagaState.CANCELLED


def test_a_late_success_after_the_deadline_is_compensated_each_time_it_arrives():
    saga = started()
    saga.handle(SAGA, "StockReserved", T0)
    saga.handle(SAGA, DEADLINE_PASSED, T0 + timedelta(minutes=1))
    version = saga.version
    assert commands_of(saga.handle(SAGA, "PaymentCompleted", T0 + timedelta(minutes=2))) == ("RefundPayment",)
    assert saga.state is SagaState.CANCELLED and saga.version == version + 1  # a newer command version


@pytest.mark.parametrize(
    "reply",
    [
        "StockReserved",
        "StockRejected",
        "PaymentCompleted",
        "PaymentFailed",
        CANCEL_REQUESTED,
        DEADLINE_PASSED,
    ],
)
def test_a_reply_the_completed_saga_does_not_expect_is_recorded_and_ignored(reply):
    saga = started()
    saga.handle(SAGA, "StockReserved", T0)
    saga.handle(SAGA, "PaymentCompleted", T0)
    before = (saga.state, saga.version)
    assert saga.handle(SAGA, reply, T0 + timedelta(hours=1)) is None
    assert (saga.state, saga.version) == before
    assert saga.new_history[-1].trigger == reply and "ignored" in saga.new_history[-1].note


@pytest.mark.parametrize("table", [TABLE, REDEEMING_TABLE], ids=["plain", "redeeming"])
def test_every_waiting_state_has_a_deadline_and_every_state_a_reaction_to_it_or_none_on_purpose(table):
    assert set(WAITING) == set(SAGA.step_timeouts) == set(REDEEMING.step_timeouts)
    entered = {START.next_state} | {reaction.next_state for reaction in table.values()}
    for state in set(WAITING) & entered:
        assert (state, DEADLINE_PASSED) in table and (state, CANCEL_REQUESTED) in table
    assert (SagaState.DEDUCTING in entered) is (table is REDEEMING_TABLE)


def test_an_order_redeeming_points_deducts_them_between_the_stock_and_the_charge():
    saga = SagaInstance.start("o-1", REDEEMING, ORDER_PLACED, START, T0)
    assert commands_of(saga.handle(REDEEMING, "StockReserved", T0)) == ("DeductPoints",)
    assert saga.state is SagaState.DEDUCTING and saga.step_deadline == T0 + timedelta(seconds=30)
    assert commands_of(saga.handle(REDEEMING, "PointsDeducted", T0)) == ("ChargePayment",)
    assert commands_of(saga.handle(REDEEMING, "PaymentCompleted", T0)) == ()
    assert state_of(saga) is SagaState.COMPLETED


@pytest.mark.parametrize(
    ("replies", "compensations"),
    [
        (["StockReserved", "PointsRejected"], ("ReleaseStock",)),
        (["StockReserved", CANCEL_REQUESTED], ("ReturnPoints", "ReleaseStock")),
        (["StockReserved", "PointsDeducted", "PaymentFailed"], ("ReturnPoints", "ReleaseStock")),
        (
            ["StockReserved", "PointsDeducted", CANCEL_REQUESTED],
            ("RefundPayment", "ReturnPoints", "ReleaseStock"),
        ),
    ],
)
def test_a_redeeming_saga_compensates_in_reverse_refund_points_stock(replies, compensations):
    saga = SagaInstance.start("o-1", REDEEMING, ORDER_PLACED, START, T0)
    for reply in replies[:-1]:
        saga.handle(REDEEMING, reply, T0)
    assert commands_of(saga.handle(REDEEMING, replies[-1], T0)) == compensations
    assert saga.state is SagaState.CANCELLED


def test_points_deducted_after_the_saga_gave_up_are_returned():
    saga = SagaInstance.start("o-1", REDEEMING, ORDER_PLACED, START, T0)
    saga.handle(REDEEMING, "StockReserved", T0)
    saga.handle(REDEEMING, DEADLINE_PASSED, T0 + timedelta(minutes=1))
    assert commands_of(saga.handle(REDEEMING, "PointsDeducted", T0 + timedelta(minutes=2))) == (
        "ReturnPoints",
    )


def test_the_plan_follows_the_order():
    plans = order_saga(30.0)
    plain = Order.place("c", [OrderLine("A", 1, 100)])
    redeeming = Order.place("c", [OrderLine("A", 1, 100)], points=40)
    assert plans.for_order(plain) is plans.plain and plans.for_order(redeeming) is plans.redeeming


def test_commands_are_built_from_the_order():
    order = Order.place("c", [OrderLine("A", 2, 150), OrderLine("B", 1, 100)], flow="orchestrated")
    lines = (StockLine("A", 2), StockLine("B", 1))
    assert command("ReserveStock", order) == ReserveStock(order.id, lines, 400, "EUR")
    assert command("ChargePayment", order) == ChargePayment(order.id, 400, "EUR")
    assert command("ReleaseStock", order) == ReleaseStock(order.id)
    assert command("RefundPayment", order) == RefundPayment(order.id)
    redeeming = Order.place("c", [OrderLine("A", 2, 150)], flow="orchestrated", points=100)
    assert command("DeductPoints", redeeming) == DeductPoints(redeeming.id, "c", 100, 200, "EUR")
    assert command("ChargePayment", redeeming) == ChargePayment(redeeming.id, 200, "EUR")
    assert command("ReturnPoints", redeeming) == ReturnPoints(redeeming.id)
    [(_, created)] = order.pull_changes()
    assert isinstance(created, OrderCreated) and created.flow == "orchestrated"

"""The simulated payment gateway keeps the idempotency contract of a real one."""

from __future__ import annotations

import pytest

from outboxkit.base.failures import FailureKind, classify
from services.payment.gateway import (
    ChargeLedger,
    IdempotencyKeyReusedError,
    LedgerUnavailableError,
    SimulatedGateway,
)


def test_a_repeated_key_gets_the_first_answer_and_no_second_charge():
    gateway = SimulatedGateway()
    first = gateway.charge("order-1", 500, "EUR")
    again = gateway.charge("order-1", 500, "EUR")
    assert first.approved and first.reference is not None
    assert again == first
    entry = gateway.ledger.lookup("order-1")
    assert entry is not None and entry.calls == 2
    assert gateway.charge("order-2", 500, "EUR").reference != first.reference


def test_the_ledger_outlives_the_process_that_charged(tmp_path):
    path = tmp_path / "gateway.sqlite"
    before_crash = SimulatedGateway(ledger=ChargeLedger(path)).charge("order-1", 900, "EUR")
    after_restart = SimulatedGateway(ledger=ChargeLedger(path)).charge("order-1", 900, "EUR")
    assert after_restart == before_crash


def test_a_key_reused_for_another_amount_is_refused_as_permanent():
    gateway = SimulatedGateway()
    gateway.charge("order-1", 500, "EUR")
    with pytest.raises(IdempotencyKeyReusedError, match="charged 500 EUR, now asked for 700 EUR") as refused:
        gateway.charge("order-1", 700, "EUR")
    assert classify(refused.value).kind is FailureKind.RECORD
    entry = gateway.ledger.lookup("order-1")
    assert entry is not None and entry.calls == 1  # the refused call left the entry alone


def test_declines_over_the_limit_and_by_chance_stick_to_their_key():
    gateway = SimulatedGateway(limit_cents=1000)
    over = gateway.charge("big", 1001, "EUR")
    assert not over.approved and over.reference is None
    assert over.reason == "amount 1001 EUR over the card limit of 1000"
    unlucky = SimulatedGateway(decline_rate=1.0)
    assert unlucky.charge("any", 1, "EUR").reason == "declined by issuer"
    half = SimulatedGateway(decline_rate=0.5)
    outcomes = {key: half.charge(key, 1, "EUR").approved for key in (f"k{n}" for n in range(200))}
    assert 60 < sum(outcomes.values()) < 140
    fresh = SimulatedGateway(decline_rate=0.5)  # another instance decides every key the same way
    assert all(fresh.charge(key, 1, "EUR").approved == ok for key, ok in outcomes.items())


def test_a_refund_key_refunds_once():
    gateway = SimulatedGateway()
    charge = gateway.charge("order-1", 500, "EUR")
    assert charge.reference is not None
    first = gateway.refund("refund-order-1", charge.reference, 500)
    assert gateway.refund("refund-order-1", charge.reference, 500) == first
    assert first.startswith("refund-")


def test_a_decline_rate_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        SimulatedGateway(decline_rate=1.5)


def test_a_ledger_that_cannot_be_opened_names_its_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    expected = f"cannot open the payment gateway ledger {blocker}/ledger"
    with pytest.raises(LedgerUnavailableError, match=expected):
        ChargeLedger(blocker / "ledger.sqlite")


def test_a_ledger_that_stays_locked_is_an_unavailable_gateway_not_a_bad_record(tmp_path):
    path = tmp_path / "gateway.sqlite"
    ledger = ChargeLedger(path)
    ledger._db.execute("PRAGMA busy_timeout = 50")  # do not wait 30 s for the lock in a unit test
    import sqlite3

    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another instance holds the write lock
    try:
        with pytest.raises(Exception) as unavailable:
            SimulatedGateway(ledger=ledger).charge("order-9", 100, "EUR")
    finally:
        other.execute("ROLLBACK")
    failure = classify(unavailable.value)
    assert failure.kind is FailureKind.OUTAGE and failure.dependency == "payment gateway"
